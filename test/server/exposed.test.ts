// socx serve as an attacker meets it: deadlines, caps, the pending-handshake room, slowed password guessing,
// escaped logs, resets passed on, and refusals sent only once a whole message is read.
import { usersAuthenticator } from '../../lib/server/auth.ts';
import assert from 'node:assert/strict';
import { createServer, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { formatConnectionRecord } from '../../lib/server/log-line.ts';
import { Collector, connectTo, hex, listen, refusedAtOnce, sleep, startEcho, withTimeout } from '../helpers/net.ts';
import { authenticate, greet, request5, startSocksServer } from '../helpers/socks.ts';

const T = { timeout: 20_000 };

async function waitFor(ready: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('the handshake deadline is absolute', () => {
  test('a client that drips one byte every 100 ms is cut at the deadline (600 ms), not kept alive by its bytes', T, async () => {
    const server = await startSocksServer({ handshakeTimeoutMs: 600 });
    try {
      const c = await server.client();
      const started = performance.now();
      // A long SOCKS5 request, one byte at a time: every byte is on time, the whole is not.
      const message = Buffer.concat([hex('05 01 00'), hex('05 01 00 03 ff'), Buffer.alloc(255, 0x61), hex('0050')]);
      for (let at = 0; at < message.length && !c.ended && !c.closed; at++) {
        c.socket.write(message.subarray(at, at + 1));
        await sleep(100);
      }
      await c.end(3000);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 600 + 1000, `cut after ${elapsed.toFixed(0)} ms`);
      const record = await server.record(0);
      assert.equal(record.outcome, 'timeout');
      assert.match(record.result, /did not complete the request in time/);
    } finally {
      await server.close();
    }
  });
});

describe('limits', () => {
  test('--max-connections: with every slot relaying, a new connection is closed at once; service resumes when one leaves', T, async () => {
    const echo = await startEcho();
    const warnings: string[] = [];
    const server = await startSocksServer({ maxConnections: 2, maxPendingHandshakes: 10, onWarning: (line) => warnings.push(line) });
    try {
      const relays: Collector[] = [];
      for (let i = 0; i < 2; i++) {
        const c = await server.client();
        await greet(c);
        assert.equal((await request5(c, { type: 'ipv4', host: '127.0.0.1', port: echo.port })).reply.reply, 0);
        relays.push(c);
      }
      assert.equal(await refusedAtOnce(server.port, '127.0.0.1'), true);
      assert.match(warnings.join('\n'), /the server has 2 connections open \(--max-connections\)/);
      relays[0]?.socket.destroy();
      await waitFor(() => server.server.connections === 1, 'a slot to free up');
      const again = await server.client();
      assert.deepEqual(await greet(again), hex('05 00'));
      relays[1]?.socket.destroy();
    } finally {
      await server.close();
      await echo.close();
    }
  });

  test('with the server full of handshakes, a newcomer takes the oldest one\'s slot', T, async () => {
    const server = await startSocksServer({ maxConnections: 2, maxPendingHandshakes: 10 });
    try {
      const a = await server.client();
      const b = await server.client();
      await waitFor(() => server.server.connections === 2, 'two sessions');
      const c = await server.client();
      await a.close(3000);
      assert.deepEqual(await greet(c), hex('05 00'));
      assert.equal(b.closed, false);
      b.socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('--max-connections-per-ip: a second connection from 127.0.0.1 is closed; one from 127.0.0.2 is served', T, async () => {
    const server = await startSocksServer({ maxConnectionsPerIp: 1 }, '0.0.0.0');
    try {
      const first = new Collector(await connectTo('127.0.0.1', server.port));
      await waitFor(() => server.server.connections === 1, 'the first session');
      assert.equal(await refusedAtOnce(server.port, '127.0.0.1'), true);
      const other = new Collector(await new Promise<Socket>((resolve, reject) => {
        const socket = createConnectionFrom('127.0.0.2', server.port);
        socket.once('connect', () => resolve(socket));
        socket.once('error', reject);
      }));
      assert.deepEqual(await greet(other), hex('05 00'));
      first.socket.destroy();
      other.socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('a full room of stalled handshakes: the oldest is dropped for each newcomer, and a fresh client is served', T, async () => {
    const echo = await startEcho();
    const server = await startSocksServer({ maxPendingHandshakes: 20 });
    try {
      const stalled: Collector[] = [];
      for (let i = 0; i < 60; i++) {
        const c = await server.client();
        c.socket.write(hex('05'));
        stalled.push(c);
      }
      await waitFor(() => stalled.filter((c) => c.closed).length >= 40, 'the oldest stalled handshakes to be dropped');
      assert.ok(stalled.slice(0, 40).every((c) => c.closed), 'the oldest ones are the ones dropped');
      const fresh = await server.client();
      assert.deepEqual(await greet(fresh), hex('05 00'));
      const { reply } = await request5(fresh, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
      assert.equal(reply.reply, 0);
      fresh.socket.write('served');
      assert.equal((await fresh.take(6)).toString(), 'served');
      const dropped = server.records.filter((r) => r.outcome === 'limit');
      assert.ok(dropped.length >= 40);
      for (const c of stalled) c.socket.destroy();
      fresh.socket.destroy();
    } finally {
      await server.close();
      await echo.close();
    }
  });

  test('--max-binds-per-ip: the BIND over the cap gets 05 02 and nothing listens for it', T, async () => {
    const server = await startSocksServer({ maxBindsPerIp: 1 });
    try {
      const bind = hex('05 02 00 01 00000000 0000');
      const first = await server.client();
      await greet(first);
      first.socket.write(bind);
      assert.equal((await first.take(10))[1], 0x00);
      const second = await server.client();
      await greet(second);
      second.socket.write(bind);
      assert.deepEqual(await second.end(), hex('05 02 00 01 00000000 0000'));
      const record = server.records.find((r) => r.outcome === 'limit');
      assert.ok(record);
      assert.match(record.result, /has 1 BINDs open already/);
      first.socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('failed logins from one IP are answered later and later (01 01 each time)', T, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 'secret']])) });
    try {
      const times: number[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await server.client();
        await greet(c, [0x02]);
        const started = performance.now();
        assert.deepEqual(await authenticate(c, 'alice', 'wrong'), hex('01 01'));
        times.push(performance.now() - started);
        await c.end();
      }
      // 100, 200, 400, 800 ms: each guess waits at least as long as the schedule says.
      [100, 200, 400, 800].forEach((least, i) => assert.ok((times[i] ?? 0) >= least * 0.9, `guess ${i + 1} answered after ${times[i]} ms`));
      const c = await server.client();
      await greet(c, [0x02]);
      assert.deepEqual(await authenticate(c, 'alice', 'secret'), hex('01 00'));
      c.socket.destroy();
    } finally {
      await server.close();
    }
  });
});

describe('malformed messages are read whole, then refused with a complete reply', () => {
  test('an RFC 1929 request with version 0x02 gets 01 01 once all of it has arrived', T, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 'secret']])) });
    try {
      const c = await server.client();
      await greet(c, [0x02]);
      c.socket.write(hex('02 05'));
      c.socket.write(Buffer.from('alice'));
      await sleep(100);
      assert.equal(c.pending.length, 0, 'no answer before the whole message');
      c.socket.write(Buffer.concat([hex('06'), Buffer.from('secre')]));
      await sleep(100);
      assert.equal(c.pending.length, 0, 'no answer before the whole message');
      c.socket.write(Buffer.from('t'));
      assert.deepEqual(await c.end(), hex('01 01'));
      assert.equal((await server.record(0)).outcome, 'bad-request');
    } finally {
      await server.close();
    }
  });

  test('an empty password gets 01 01 (RFC 1929: 1-255 bytes)', T, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 'secret']])) });
    try {
      const c = await server.client();
      await greet(c, [0x02]);
      c.socket.write(Buffer.concat([hex('01 05'), Buffer.from('alice'), hex('00')]));
      assert.deepEqual(await c.end(), hex('01 01'));
    } finally {
      await server.close();
    }
  });

  test('a request with RSV 0x01 is answered (0x01) only after its address and port have arrived', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(hex('05 01 01 03 0b'));
      await sleep(100);
      assert.equal(c.pending.length, 0, 'answered before the whole request was read');
      c.socket.write(Buffer.concat([Buffer.from('example.com'), hex('0050')]));
      assert.deepEqual(await c.end(), hex('05 01 00 01 00000000 0000'));
    } finally {
      await server.close();
    }
  });
});

describe('logs a client cannot forge', () => {
  test('a CONNECT name with a newline, an escape sequence and a space is escaped in the log line', T, async () => {
    const server = await startSocksServer({ connectTimeoutMs: 500 });
    try {
      const c = await server.client();
      await greet(c);
      const name = 'evil\n127.0.0.1 socks5 connect x ok\x1b[31m red';
      const bytes = Buffer.from(name);
      c.socket.write(Buffer.concat([hex('05 01 00 03'), Buffer.from([bytes.length]), bytes, hex('0050')]));
      await c.end(5000);
      const line = formatConnectionRecord(await server.record(0));
      assert.doesNotMatch(line, /[\n\r\x1b]/);
      assert.match(line, /evil\\x0a127\.0\.0\.1\\x20socks5\\x20connect\\x20x\\x20ok\\x1b\[31m\\x20red:80/);
    } finally {
      await server.close();
    }
  });

  test('a name with spaces cannot forge fields in the result or the debug line: every space of it is \\x20', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      const name = 'h ok up=9.9GiB down=1B 1ms) (';
      const bytes = Buffer.from(name);
      c.socket.write(Buffer.concat([hex('05 01 00 03'), Buffer.from([bytes.length]), bytes, hex('0050')]));
      assert.deepEqual(await c.end(5000), hex('05 04 00 01 00000000 0000'));
      const line = formatConnectionRecord(await server.record(0));
      const escaped = 'h\\x20ok\\x20up=9.9GiB\\x20down=1B\\x201ms)\\x20(';
      assert.equal(line.split(' ').filter((field) => field.startsWith('up=')).length, 1, line);
      assert.ok(line.includes(`socks5 connect ${escaped}:80 host unreachable (${escaped}: not a valid DNS name) up=0B down=0B `), line);
      assert.ok(server.debug.some((entry) => entry.includes(`SOCKS5 connect ${escaped}:80`)), server.debug.join('|'));
      assert.ok(server.debug.every((entry) => !entry.includes(name)), server.debug.join('|'));
    } finally {
      await server.close();
    }
  });

  test('a SOCKS4 USERID with control characters is escaped in the log line and the debug line', T, async () => {
    const echo = await startEcho();
    const server = await startSocksServer();
    try {
      const c = await server.client();
      c.socket.write(Buffer.concat([hex(`04 01 ${echo.port.toString(16).padStart(4, '0')} 7f000001`), Buffer.from('bob\r\nforged'), hex('00')]));
      assert.equal((await c.take(8))[1], 0x5a);
      c.socket.end();
      await c.end();
      const line = formatConnectionRecord(await server.record(0));
      assert.match(line, /user="bob\\x0d\\x0aforged"/);
      assert.ok(server.debug.every((entry) => !/[\r\n]/.test(entry)), server.debug.join('|'));
      assert.ok(server.debug.some((entry) => entry.includes('user bob\\x0d\\x0aforged')));
    } finally {
      await server.close();
      await echo.close();
    }
  });
});

describe('abrupt ends are passed on as resets', () => {
  async function resettingTarget(): Promise<{ port: number; sockets: Socket[]; close(): Promise<void> }> {
    const sockets: Socket[] = [];
    const target = createServer({ allowHalfOpen: true }, (socket) => { sockets.push(socket); socket.on('error', () => {}); });
    const port = await listen(target, '127.0.0.1');
    return { port, sockets, close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); target.close(() => resolve()); }) };
  }

  /** A client relayed to the target's first connection. */
  async function relayTo(server: Awaited<ReturnType<typeof startSocksServer>>, target: { port: number; sockets: Socket[] }): Promise<Collector> {
    const c = await server.client();
    await greet(c);
    assert.equal((await request5(c, { type: 'ipv4', host: '127.0.0.1', port: target.port })).reply.reply, 0);
    await waitFor(() => target.sockets.length === 1, 'the upstream connection');
    return c;
  }

  test('the target resets mid-transfer: the client gets a reset, not a FIN', T, async () => {
    const target = await resettingTarget();
    const server = await startSocksServer();
    try {
      const c = await relayTo(server, target);
      target.sockets[0]?.write('partial');
      assert.equal((await c.take(7)).toString(), 'partial');
      target.sockets[0]?.resetAndDestroy();
      await c.close(3000);
      assert.equal(c.ended, false, 'the client saw a clean EOF');
      assert.equal((c.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
      assert.equal((await server.record(0)).outcome, 'reset');
    } finally {
      await server.close();
      await target.close();
    }
  });

  test('the client resets mid-transfer: the target gets a reset', T, async () => {
    const target = await resettingTarget();
    const server = await startSocksServer();
    try {
      const c = await relayTo(server, target);
      const upstream = new Collector(target.sockets[0] as Socket);
      c.socket.write('partial');
      assert.equal((await upstream.take(7)).toString(), 'partial');
      c.socket.resetAndDestroy();
      await upstream.close(3000);
      assert.equal(upstream.ended, false, 'the target saw a clean EOF');
      assert.equal((upstream.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    } finally {
      await server.close();
      await target.close();
    }
  });

  test('relays still open when the grace ends are reset on both sides', T, async () => {
    const target = await resettingTarget();
    const server = await startSocksServer();
    const c = await relayTo(server, target);
    const upstream = new Collector(target.sockets[0] as Socket);
    await withTimeout(server.server.close(200), 3000, 'close(200)');
    await c.close(3000);
    await upstream.close(3000);
    assert.equal((c.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    assert.equal((upstream.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    assert.equal((await server.record(0)).outcome, 'aborted');
    await target.close();
  });
});

function createConnectionFrom(localAddress: string, port: number): Socket {
  return new Socket().connect({ host: '127.0.0.1', port, localAddress });
}
