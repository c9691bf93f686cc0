// A slow reader holds the relay back instead of filling the server's memory, on both read paths: the
// shared buffer and 'data' events. What the server has read from the target while the client reads nothing
// stays within the kernel's socket buffers, not the size of the transfer.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { connectTo, hex, listen, sleep, withTimeout } from '../helpers/net.ts';
import { startSocksServer } from '../helpers/socks.ts';

const TOTAL = 64 << 20;
const CHUNK = randomBytes(1 << 20);

for (const sharedReads of [true, false]) {
  describe(`backpressure (${sharedReads ? 'shared read buffer' : "'data' events"})`, () => {
    test('a client that stops reading: the server stops reading the target; then all 64 MiB arrive intact', { timeout: 60_000 }, async () => {
      const sockets: Socket[] = [];
      const targetErrors: string[] = [];
      const target = createServer((socket) => {
        sockets.push(socket);
        socket.on('error', (error) => targetErrors.push(error.message));
        let sent = 0;
        const pump = (): void => {
          while (sent < TOTAL) {
            sent += CHUNK.length;
            if (!socket.write(CHUNK)) return void socket.once('drain', pump);
          }
          socket.end();
        };
        pump();
      });
      const port = await listen(target, '127.0.0.1');
      const server = await startSocksServer({ sharedReads });
      try {
        // A raw socket: nothing reads it until the test says so.
        const socket = await connectTo('127.0.0.1', server.port);
        socket.pause();
        socket.write(Buffer.concat([hex('05 01 00'), hex(`05 01 00 01 7f000001 ${port.toString(16).padStart(4, '0')}`)]));
        await sleep(1000);
        const heldBack = server.server.status().bytesDown;
        assert.ok(heldBack < 32 << 20, `the server read ${heldBack} bytes from the target while the client read none`);
        const hash = createHash('sha256');
        let received = -12;
        const ended = new Promise<void>((resolve) => socket.once('end', resolve));
        socket.on('data', (chunk: Buffer) => {
          // The method selection and the reply (12 bytes) come first.
          const data = received < 0 ? chunk.subarray(-received) : chunk;
          received += chunk.length;
          hash.update(data);
        });
        socket.resume();
        await withTimeout(ended, 30_000, 'the whole transfer');
        socket.destroy();
        assert.equal(received, TOTAL);
        const expected = createHash('sha256');
        for (let i = 0; i < TOTAL / CHUNK.length; i++) expected.update(CHUNK);
        assert.equal(hash.digest('hex'), expected.digest('hex'));
        const record = await server.record(0);
        assert.deepEqual([record.outcome, record.result, targetErrors], ['ok', 'ok', []]);
      } finally {
        await server.close();
        for (const socket of sockets) socket.destroy();
        target.close();
      }
    });
  });
}
