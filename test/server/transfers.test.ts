// 1,000 concurrent transfers through the built dist/socx serve, byte-exact both ways (SHA-256), sizes from
// 0 B to 16 MiB, over SOCKS4, SOCKS4a, SOCKS5 and SOCKS5 with a password, to IPv4, IPv6 and names. Many relays
// sharing the one read buffer with slow and fast peers at once is what would expose a guard that fails.
import { usersAuthenticator } from '../../lib/server/auth.ts';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Address } from '../../lib/codec/address.ts';
import { encodeSocks4Request } from '../../lib/codec/socks4.ts';
import { encodeGreeting, encodeRequest, encodeUserPassRequest } from '../../lib/codec/socks5.ts';
import { SocksServer } from '../../lib/server/server.ts';

const SOCX = path.resolve(import.meta.dirname, '../../dist/socx');
const TRANSFERS = 1000;
const BLOCK = randomBytes(1 << 20);
const DOUBLE = Buffer.concat([BLOCK, BLOCK]);

/** The bytes of stream `seed`, from `offset`, at most `length` of them (a view of the repeated block). */
function streamBytes(seed: number, offset: number, length: number): Buffer {
  const start = (seed * 7919 + offset) % BLOCK.length;
  return DOUBLE.subarray(start, start + Math.min(length, BLOCK.length));
}

function streamHash(seed: number, size: number): string {
  const hash = createHash('sha256');
  for (let at = 0; at < size;) {
    const chunk = streamBytes(seed, at, size - at);
    hash.update(chunk);
    at += chunk.length;
  }
  return hash.digest('hex');
}

/** Writes stream `seed` of `size` bytes with backpressure, then calls `done`. */
function writeStream(socket: Socket, seed: number, size: number, done: () => void): void {
  let at = 0;
  const pump = (): void => {
    while (at < size) {
      const chunk = streamBytes(seed, at, Math.min(size - at, 256 * 1024));
      at += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
    done();
  };
  pump();
}

/** The target: reads a 12-byte header (upload size, download size, seed), hashes the upload, sends the
 * download stream, then the upload's SHA-256, then ends. */
function targetHandler(socket: Socket): void {
  socket.on('error', () => socket.destroy());
  let header = Buffer.alloc(0);
  let up = -1;
  let down = 0;
  let seed = 0;
  let received = 0;
  const hash = createHash('sha256');
  let sent = false;
  let finished = false;
  const finishIfDone = (): void => {
    if (finished || !sent || received < up) return;
    finished = true;
    socket.end(hash.digest());
  };
  socket.on('data', (chunk: Buffer) => {
    if (finished) return void socket.destroy(new Error(`${chunk.length} bytes past the upload`));
    let start = false;
    if (up < 0) {
      header = Buffer.concat([header, chunk]);
      if (header.length < 12) return;
      up = header.readUInt32BE(0);
      down = header.readUInt32BE(4);
      seed = header.readUInt32BE(8);
      chunk = header.subarray(12);
      start = true;
    }
    received += chunk.length;
    hash.update(chunk);
    if (start) writeStream(socket, seed + 1, down, () => { sent = true; finishIfDone(); });
    finishIfDone();
  });
}

interface Plan {
  readonly kind: 'socks4' | 'socks4a' | 'socks5' | 'socks5-auth';
  readonly target: Address;
  readonly up: number;
  readonly down: number;
  readonly seed: number;
}

const SIZES = [0, 1, 100, 1500, 64 * 1024, 200 * 1024, 1 << 20, 16 << 20];
/** Mostly small, a few large: about 200 MiB each way in all. */
function sizeFor(i: number): number {
  if (i % 100 === 7) return SIZES[7] ?? 0;
  if (i % 20 === 3) return SIZES[6] ?? 0;
  return SIZES[i % 6] ?? 0;
}

function handshake(plan: Plan): Buffer {
  switch (plan.kind) {
    case 'socks4': return encodeSocks4Request({ command: 1, address: plan.target, userId: '' });
    case 'socks4a': return encodeSocks4Request({ command: 1, address: plan.target, userId: 'u' });
    case 'socks5': return Buffer.concat([encodeGreeting({ methods: [0] }), encodeRequest({ command: 1, address: plan.target })]);
    case 'socks5-auth': return Buffer.concat([encodeGreeting({ methods: [2] }), encodeUserPassRequest({ username: 'alice', password: 'secret' }), encodeRequest({ command: 1, address: plan.target })]);
  }
}

/** Where the reply to the request starts, and its length once its first 4 bytes are in (SOCKS5's depends on
 * the ATYP of BND.ADDR); undefined while that cannot be told yet. */
function replyShape(plan: Plan, head: Buffer): { at: number; length: number } | undefined {
  if (plan.kind === 'socks4' || plan.kind === 'socks4a') return { at: 0, length: 8 };
  const at = plan.kind === 'socks5-auth' ? 4 : 2;
  if (head.length < at + 4) return undefined;
  const atyp = head[at + 3];
  return { at, length: atyp === 4 ? 22 : atyp === 1 ? 10 : 7 + (head[at + 4] ?? 0) };
}

function transfer(port: number, plan: Plan): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const hash = createHash('sha256');
    let head = Buffer.alloc(0);
    let replyDone = false;
    let received = 0;
    const tail: Buffer[] = [];
    socket.setTimeout(120_000, () => socket.destroy(new Error('transfer stalled')));
    socket.on('error', reject);
    socket.on('connect', () => {
      const header = Buffer.alloc(12);
      header.writeUInt32BE(plan.up, 0);
      header.writeUInt32BE(plan.down, 4);
      header.writeUInt32BE(plan.seed, 8);
      socket.write(Buffer.concat([handshake(plan), header]));
      writeStream(socket, plan.seed, plan.up, () => socket.end());
    });
    socket.on('data', (chunk: Buffer) => {
      if (!replyDone) {
        head = Buffer.concat([head, chunk]);
        const shape = replyShape(plan, head);
        if (!shape || head.length < shape.at + shape.length) return;
        const code = head[shape.at + 1];
        if (code !== (plan.kind.startsWith('socks4') ? 0x5a : 0x00)) return reject(new Error(`refused: ${head.toString('hex')}`));
        replyDone = true;
        chunk = head.subarray(shape.at + shape.length);
      }
      // The last 32 bytes are the upload's hash; everything before is the download stream.
      const downLeft = plan.down - received;
      const data = chunk.subarray(0, Math.max(0, downLeft));
      hash.update(data);
      received += data.length;
      if (chunk.length > data.length) tail.push(chunk.subarray(data.length));
    });
    socket.on('end', () => {
      try {
        assert.equal(received, plan.down, 'download size');
        assert.equal(hash.digest('hex'), streamHash(plan.seed + 1, plan.down), 'download bytes');
        assert.equal(Buffer.concat(tail).toString('hex'), streamHash(plan.seed, plan.up), 'upload bytes (hashed by the target)');
        socket.end();
        resolve();
      } catch (error) {
        reject(error);
      }
    });
  });
}

function startServe(args: string[]): Promise<{ port: number; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(SOCX, ['serve', '-q', '-l', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (match) resolve({ port: Number(match[1]), child });
    });
    child.once('exit', (code) => reject(new Error(`socx serve exited ${code}: ${err}`)));
  });
}

describe('1,000 concurrent transfers through dist/socx serve, byte-exact both ways', () => {
  // One dual-stack target: 127.0.0.1, ::1 and "localhost" (whichever family it resolves to) reach it.
  let target: Server;
  let port = 0;
  let open: { port: number; child: ChildProcess };
  let authed: { port: number; child: ChildProcess };
  before(async () => {
    target = createServer({ allowHalfOpen: true }, targetHandler);
    port = await new Promise<number>((resolve) => target.listen({ host: '::', port: 0, ipv6Only: false }, () => resolve((target.address() as { port: number }).port)));
    open = await startServe([]);
    authed = await startServe(['--auth', 'alice:secret']);
  });
  after(() => {
    open.child.kill('SIGKILL');
    authed.child.kill('SIGKILL');
    target.close();
  });

  test('sizes 0 B-16 MiB, SOCKS4/4a/5/5+auth, IPv4/IPv6/names: every byte arrives, each way', { timeout: 300_000 }, async () => {
    await runAll(TRANSFERS, open.port, authed.port);
  });

  test('the same through the fallback path (\'data\' events, no shared buffer), in process: 250 transfers', { timeout: 300_000 }, async () => {
    const plain = new SocksServer({ sharedReads: false });
    const withUsers = new SocksServer({ sharedReads: false, authenticate: usersAuthenticator(new Map([['alice', 'secret']])) });
    const [a] = await plain.listen([{ host: '127.0.0.1', port: 0 }]);
    const [b] = await withUsers.listen([{ host: '127.0.0.1', port: 0 }]);
    try {
      await runAll(250, a?.port ?? 0, b?.port ?? 0);
    } finally {
      await plain.close(0);
      await withUsers.close(0);
    }
  });

  async function runAll(count: number, openPort: number, authedPort: number): Promise<void> {
    const kinds: Plan['kind'][] = ['socks4', 'socks4a', 'socks5', 'socks5-auth'];
    const plans: Plan[] = [];
    for (let i = 0; i < count; i++) {
      const kind = kinds[i % 4] ?? 'socks5';
      const family = kind === 'socks4' ? 0 : kind === 'socks4a' ? 2 : i % 3;
      const address: Address = family === 0 ? { type: 'ipv4', host: '127.0.0.1', port }
        : family === 1 ? { type: 'ipv6', host: '::1', port }
          : { type: 'domain', host: 'localhost', port };
      plans.push({ kind, target: address, up: sizeFor(i), down: sizeFor(i + 3), seed: i });
    }
    const results = await Promise.allSettled(plans.map((plan) => transfer(plan.kind === 'socks5-auth' ? authedPort : openPort, plan)));
    const failures = results.flatMap((result, i) => (result.status === 'rejected' ? [`#${i} ${plans[i]?.kind} ${plans[i]?.target.type} up=${plans[i]?.up} down=${plans[i]?.down}: ${(result.reason as Error).message}`] : []));
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${count} failed`);
  }
});
