/** Limits and endings: handshake timeout and byte cap, clients that leave mid-dial, close(graceMs), and
 * secrets kept out of records and debug lines. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { decodeReply } from '../../lib/codec/socks5.ts';
import { describeError, SocxError } from '../../lib/errors.ts';
import { dialUpstream, type UpstreamDial } from '../../lib/dial.ts';
import { Collector, closedPort, connectTo, deferred, hex, sleep, startEcho, withTimeout, type EchoServer } from '../helpers/net.ts';
import { authenticate, greet, GREETING_NO_AUTH, request5, socks4Connect, startSocksServer } from '../helpers/socks.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';

async function waitFor(ready: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('handshake limits', () => {
  test('a client that sends nothing is closed after handshakeTimeoutMs (200 ms) within 3 s', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ handshakeTimeoutMs: 200 });
    try {
      const started = performance.now();
      const c = await server.client();
      assert.equal((await c.end(3000)).length, 0, 'no bytes for a client that never spoke');
      assert.ok(performance.now() - started < 3000);
      const record = await server.record(0);
      assert.equal(record.ok, false);
      assert.match(record.result, /in time/);
    } finally {
      await server.close();
    }
  });

  test('a client that stops after the greeting is closed after the handshake timeout too', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ handshakeTimeoutMs: 200 });
    try {
      const c = await server.client();
      assert.deepEqual(await greet(c), hex('05 00'));
      c.socket.write(hex('05 01 00'));
      await c.end(3000);
    } finally {
      await server.close();
    }
  });

  test('a SOCKS4 USERID of 4000 non-NUL bytes is cut off with the complete 8-byte 0x5B reply, never buffered without end', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      c.socket.write(Buffer.concat([hex('04 01 0050 7f000001'), Buffer.alloc(4000, 0x41)]));
      assert.deepEqual(await c.end(3000), hex('00 5b 0000 00000000'));
      assert.equal((await server.record(0)).ok, false);
    } finally {
      await server.close();
    }
  });

  test('maxHandshakeBytes: a request that grows past the cap in pieces is cut off', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ maxHandshakeBytes: 64 });
    try {
      const c = await server.client();
      const request = socks4Connect({ type: 'domain', host: 'x'.repeat(200), port: 80 });
      for (let at = 0; at < request.length && !c.ended; at += 40) {
        c.socket.write(request.subarray(at, at + 40));
        await sleep(10);
      }
      assert.deepEqual(await c.end(3000), hex('00 5b 0000 00000000'));
      const record = await server.record(0);
      assert.equal(record.ok, false);
      assert.match(record.result, /more than 64 bytes/);
    } finally {
      await server.close();
    }
  });

  test('with the HTTP proxy off, a first byte that is neither 4 nor 5 (an HTTP request) closes the connection without a reply', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ http: false });
    try {
      const c = await server.client();
      c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await c.end()).length, 0);
      assert.match((await server.record(0)).result, /not a SOCKS request \(first byte 0x47\)/);
    } finally {
      await server.close();
    }
  });

  test('a greeting offering no methods gets 05 FF, then the close', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      c.socket.write(hex('05 00'));
      assert.deepEqual(await c.end(), hex('05 ff'));
      assert.equal((await server.record(0)).ok, false);
    } finally {
      await server.close();
    }
  });
});

describe('clients that leave while the server dials', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });

  test('a client that resets while the server dials: the session ends at once (outcome reset), without waiting for the dial', { timeout: 10_000 }, async () => {
    const dialing = deferred();
    const dial: UpstreamDial = () => new Promise(() => { dialing.resolve(); });
    const server = await startSocksServer({ dial });
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(hex('05 01 00 01 7f000001 0050'));
      await withTimeout(dialing.promise, 3000, 'the server to dial');
      c.socket.resetAndDestroy();
      const record = await server.record(0);
      assert.equal(record.ok, false);
      assert.equal(record.outcome, 'reset');
      await waitFor(() => server.server.connections === 0, 'the session to end');
    } finally {
      await server.close();
    }
  });

  test('a dial that completes after the client left: the upstream socket is closed, not leaked', { timeout: 10_000 }, async () => {
    const gate = deferred();
    const dialed = deferred();
    const dial: UpstreamDial = async (host, port, options) => {
      dialed.resolve();
      await gate.promise;
      return dialUpstream(host, port, { timeoutMs: options.timeoutMs });
    };
    const server = await startSocksServer({ dial });
    try {
      const c = await server.client();
      await greet(c);
      const peers = echo.peers.length;
      c.socket.write(hex(`05 01 00 01 7f000001 ${echo.port.toString(16).padStart(4, '0')}`));
      await withTimeout(dialed.promise, 3000, 'the dial');
      c.socket.destroy();
      await sleep(50);
      gate.resolve();
      const upstream = await echo.peer(peers);
      await new Collector(upstream.socket).end(3000);
      await server.record(0);
    } finally {
      gate.resolve();
      await server.close();
    }
  });
});

describe('server timeouts after the handshake', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });

  test('the dial gets connectTimeoutMs, and a dial slower than the handshake timeout still succeeds', { timeout: 10_000 }, async () => {
    const seen: number[] = [];
    const dial: UpstreamDial = async (host, port, options) => {
      seen.push(options.timeoutMs);
      await sleep(500);
      return dialUpstream(host, port, options);
    };
    const server = await startSocksServer({ dial, handshakeTimeoutMs: 200, connectTimeoutMs: 4321 });
    try {
      const c = await server.client();
      await greet(c);
      const { reply } = await request5(c, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
      assert.equal(reply.reply, 0);
      assert.deepEqual(seen, [4321]);
      // The handshake timer must not cut an established relay that is quiet for longer than it.
      await sleep(400);
      c.socket.write('still open');
      assert.equal((await c.take(10)).toString(), 'still open');
    } finally {
      await server.close();
    }
  });

  test('idleTimeoutMs (100 ms) closes a silent relay within 2 s and says so in the record', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ idleTimeoutMs: 100 });
    try {
      const c = await server.client();
      await greet(c);
      const peers = echo.peers.length;
      assert.equal((await request5(c, { type: 'ipv4', host: '127.0.0.1', port: echo.port })).reply.reply, 0);
      const upstream = await echo.peer(peers);
      await c.end(2000);
      await new Collector(upstream.socket).end(2000);
      const record = await server.record(0);
      assert.equal(record.result, 'ok, ended: idle-timeout');
    } finally {
      await server.close();
    }
  });
});

describe('SocksServer.close(graceMs)', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });

  async function openRelay(server: Awaited<ReturnType<typeof startSocksServer>>): Promise<Collector> {
    const c = await server.client();
    await greet(c);
    const { reply } = await request5(c, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
    assert.equal(reply.reply, 0);
    c.socket.write('before close');
    assert.equal((await c.take(12)).toString(), 'before close');
    return c;
  }

  test('stops accepting at once, lets an open relay finish within the grace', { timeout: 15_000 }, async () => {
    const server = await startSocksServer();
    const c = await openRelay(server);
    let closed = false;
    const closing = server.server.close(5000).then(() => { closed = true; });
    try {
      await assert.rejects(connectTo('127.0.0.1', server.port), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
      c.socket.write('during grace');
      assert.equal((await c.take(12)).toString(), 'during grace');
      assert.equal(closed, false, 'close() returned while a relay was still open');
      c.socket.end();
      await c.end();
      await withTimeout(closing, 3000, 'close() once the last relay finished');
      const record = await server.record(0);
      assert.equal(record.result, 'ok');
      assert.equal(record.bytesUp, 24);
    } finally {
      c.socket.destroy();
      await withTimeout(closing, 8000, 'close()');
    }
  });

  test('cuts relays still open when the grace ends', { timeout: 15_000 }, async () => {
    const server = await startSocksServer();
    const c = await openRelay(server);
    const idle = await server.client();
    try {
      const started = performance.now();
      await withTimeout(server.server.close(300), 3000, 'close(300)');
      assert.ok(performance.now() - started >= 250, 'close() must wait for the grace period');
      await c.end();
      await idle.end();
      const record = server.records.find((r) => r.command === 'connect');
      assert.ok(record);
      assert.match(record.result, /aborted/);
      await waitFor(() => server.server.connections === 0, 'the server to forget its sockets');
    } finally {
      c.socket.destroy();
      idle.socket.destroy();
    }
  });
});

describe('secrets', () => {
  const password = 'S3cret-Horse-Battery';
  const wrong = 'Wr0ng-Guess-Staple';
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });

  test('passwords never appear in a connection record or a debug line', { timeout: 15_000 }, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', password]])) });
    const refused = await closedPort();
    try {
      // Wrong password, raw.
      const bad = await server.client();
      await greet(bad, [0x02]);
      assert.deepEqual(await authenticate(bad, 'alice', wrong), hex('01 01'));
      await bad.end();
      // Right password, CONNECT to the echo and to a closed port.
      for (const port of [echo.port, refused]) {
        const good = await server.client();
        await greet(good, [0x02]);
        assert.deepEqual(await authenticate(good, 'alice', password), hex('01 00'));
        await request5(good, { type: 'ipv4', host: '127.0.0.1', port });
        good.socket.end();
        await good.end();
      }
      // Through the client library, with the password in the URL, right and wrong.
      const proxy = parseProxyUrl(`socks5://alice:${password}@127.0.0.1:${server.port}`);
      const session = await openSession('connect', { type: 'ipv4', host: '127.0.0.1', port: echo.port }, { proxy, timeoutMs: 3000 });
      session.socket.destroy();
      const failure = await openSession('connect', { type: 'ipv4', host: '127.0.0.1', port: echo.port }, { proxy: { ...proxy, password: wrong }, timeoutMs: 3000 }).then(() => undefined, (error: unknown) => error);
      assert.ok(failure instanceof SocxError);
      assert.equal(failure.code, 'auth-failed');
      for (const text of [describeError(failure), failure.message, String(failure.stack)]) {
        assert.ok(!text.includes(wrong), `client error text holds the password: ${text}`);
      }
      await server.record(4);
      assert.equal(server.records.length, 5);
      const everything = JSON.stringify({ records: server.records, debug: server.debug });
      assert.ok(server.records.some((r) => r.user === 'alice'), 'the user name is recorded');
      assert.ok(!everything.includes(password), 'the right password leaked into a record or debug line');
      assert.ok(!everything.includes(wrong), 'a wrong password leaked into a record or debug line');
    } finally {
      await server.close();
    }
  });
});

describe('connection accounting', () => {
  test('onConnection runs exactly once per connection, whatever the outcome', { timeout: 15_000 }, async () => {
    const echo = await startEcho();
    const server = await startSocksServer({ handshakeTimeoutMs: 300 });
    const sockets: Socket[] = [];
    try {
      // success, refusal, garbage, silence, early close
      const ok = await server.client();
      ok.socket.end(Buffer.concat([GREETING_NO_AUTH, hex(`05 01 00 01 7f000001 ${echo.port.toString(16).padStart(4, '0')}`), Buffer.from('x')]));
      await ok.take(2);
      await ok.read(decodeReply);
      await ok.end();
      const no = await server.client();
      await greet(no, [0x02]);
      await no.end();
      const garbage = await server.client();
      garbage.socket.write(hex('ff ff ff'));
      await garbage.end();
      const silent = await server.client();
      await silent.end(3000);
      const early = await server.client();
      early.socket.write(hex('05'));
      early.socket.destroy();
      sockets.push(ok.socket, no.socket, garbage.socket, silent.socket, early.socket);
      await server.record(4);
      await sleep(200);
      assert.equal(server.records.length, 5);
      assert.deepEqual(server.records.map((r) => r.ok).sort(), [false, false, false, false, true]);
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
      await echo.close();
    }
  });
});
