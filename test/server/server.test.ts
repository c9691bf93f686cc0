/** SocksServer CONNECT on 127.0.0.1 and [::1], driven by raw sockets writing codec bytes and by the client
 * library: replies byte for byte, BND.ADDR/PORT, relayed data, and the per-connection record. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { Address } from '../../lib/codec/address.ts';
import { decodeReply } from '../../lib/codec/socks5.ts';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { dialUpstream, type UpstreamDial } from '../../lib/dial.ts';
import { Collector, deferred, hex, sleep, startEcho, withTimeout, writeByteByByte, type EchoServer } from '../helpers/net.ts';
import { connectRequest, greet, GREETING_NO_AUTH, request5, socks4Connect, startSocksServer, type TestServer } from '../helpers/socks.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';

/** The reply's BND.PORT as two bytes. */
const portBytes = (port: number): string => port.toString(16).padStart(4, '0');

async function echoThrough(c: Collector, text: string): Promise<void> {
  c.socket.write(Buffer.from(text));
  assert.equal((await c.take(Buffer.byteLength(text))).toString(), text);
}

for (const listenHost of ['127.0.0.1', '::1']) {
  describe(`SocksServer listening on ${listenHost}`, () => {
    let server: TestServer;
    let echo4: EchoServer;
    let echo6: EchoServer;
    before(async () => {
      server = await startSocksServer({}, listenHost);
      echo4 = await startEcho('127.0.0.1');
      echo6 = await startEcho('::1');
    });
    after(async () => {
      await server.close();
      await echo4.close();
      await echo6.close();
    });

    test('SOCKS5 CONNECT to an IPv4 target: 05 00, a 10-byte success reply naming the upstream socket, echo', { timeout: 10_000 }, async () => {
      const c = await server.client();
      assert.deepEqual(await greet(c), hex('05 00'));
      const peers = echo4.peers.length;
      const { bytes } = await request5(c, { type: 'ipv4', host: '127.0.0.1', port: echo4.port });
      const upstream = await echo4.peer(peers);
      // BND.ADDR/PORT is the proxy's upstream socket as the target sees it (RFC 1928 §6).
      assert.deepEqual(bytes, hex(`05 00 00 01 7f000001 ${portBytes(upstream.remotePort)}`));
      await echoThrough(c, 'hello over socks5');
      c.socket.end();
      assert.equal((await c.end()).length, 0);
    });

    test('SOCKS5 CONNECT to an IPv6 target [::1]: 22-byte reply with ATYP 04', { timeout: 10_000 }, async () => {
      const c = await server.client();
      await greet(c);
      const peers = echo6.peers.length;
      const { bytes } = await request5(c, { type: 'ipv6', host: '::1', port: echo6.port });
      const upstream = await echo6.peer(peers);
      assert.equal(upstream.remoteAddress, '::1');
      assert.deepEqual(bytes, hex(`05 00 00 04 00000000000000000000000000000001 ${portBytes(upstream.remotePort)}`));
      await echoThrough(c, 'hello over IPv6');
      c.socket.end();
      await c.end();
    });

    test('SOCKS5 CONNECT to the name "localhost": the server resolves it', { timeout: 10_000 }, async () => {
      const c = await server.client();
      await greet(c);
      const peers = echo4.peers.length;
      const { reply, bytes } = await request5(c, { type: 'domain', host: 'localhost', port: echo4.port });
      assert.equal(reply.reply, 0);
      const upstream = await echo4.peer(peers);
      assert.deepEqual(reply.address, { type: 'ipv4', host: upstream.remoteAddress, port: upstream.remotePort });
      assert.equal(bytes.length, 10);
      await echoThrough(c, 'by name');
      c.socket.end();
      await c.end();
    });

    test('SOCKS4 CONNECT: an 8-byte 0x5A reply with the upstream address, then echo', { timeout: 10_000 }, async () => {
      const c = await server.client();
      const peers = echo4.peers.length;
      c.socket.write(socks4Connect({ type: 'ipv4', host: '127.0.0.1', port: echo4.port }, 'bob'));
      const reply = await c.take(8);
      const upstream = await echo4.peer(peers);
      assert.deepEqual(reply, hex(`00 5a ${portBytes(upstream.remotePort)} 7f000001`));
      await echoThrough(c, 'hello over socks4');
      c.socket.end();
      await c.end();
    });

    test('SOCKS4a CONNECT: 0.0.0.1 + host name, the server resolves it', { timeout: 10_000 }, async () => {
      const c = await server.client();
      const request = socks4Connect({ type: 'domain', host: 'localhost', port: echo4.port });
      assert.deepEqual(request, Buffer.concat([hex(`04 01 ${portBytes(echo4.port)} 00000001 00`), Buffer.from('localhost\0')]));
      c.socket.write(request);
      const reply = await c.take(8);
      assert.deepEqual(reply.subarray(0, 2), hex('00 5a'));
      await echoThrough(c, 'hello over socks4a');
      c.socket.end();
      await c.end();
    });

    for (const scheme of ['socks5', 'socks5h', 'socks4', 'socks4a']) {
      test(`the client library (${scheme}://) through this server reaches the echo target`, { timeout: 10_000 }, async () => {
        const proxyHost = listenHost.includes(':') ? `[${listenHost}]` : listenHost;
        const proxy = parseProxyUrl(`${scheme}://${proxyHost}:${server.port}`);
        const peers = echo4.peers.length;
        const session = await openSession('connect', { type: 'domain', host: 'localhost', port: echo4.port }, { proxy, timeoutMs: 3000 });
        const socket: Socket = session.socket;
        try {
          const upstream = await echo4.peer(peers);
          assert.deepEqual(session.bound, { type: 'ipv4', host: upstream.remoteAddress, port: upstream.remotePort });
          assert.equal(session.head.length, 0);
          const c = new Collector(socket);
          await echoThrough(c, `via ${scheme}`);
          socket.end();
          await c.end();
        } finally {
          socket.destroy();
        }
      });
    }
  });
}

describe('SocksServer CONNECT details', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });
  const target = (): Address => ({ type: 'ipv4', host: '127.0.0.1', port: echo.port });

  test('replies only after the upstream connect has succeeded', { timeout: 10_000 }, async () => {
    const dialing = deferred();
    const gate = deferred();
    const dial: UpstreamDial = async (host, port, options) => {
      dialing.resolve();
      await gate.promise;
      return dialUpstream(host, port, options);
    };
    const server = await startSocksServer({ dial });
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(connectRequest(target()));
      await withTimeout(dialing.promise, 3000, 'the server to dial');
      await sleep(200);
      assert.equal(c.pending.length, 0, `the server replied before the upstream connect: ${c.pending.toString('hex')}`);
      gate.resolve();
      const { value } = await c.read(decodeReply);
      assert.equal(value.reply, 0);
      await echoThrough(c, 'after the gate');
    } finally {
      gate.resolve();
      await server.close();
    }
  });

  test('bytes pipelined right after the request (before our reply) reach the target', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(Buffer.concat([connectRequest(target()), Buffer.from('early bytes')]));
      const { value } = await c.read(decodeReply);
      assert.equal(value.reply, 0);
      assert.equal((await c.take(11)).toString(), 'early bytes');
      c.socket.end();
      await c.end();
      const record = await server.record(0);
      assert.equal(record.bytesUp, 11);
      assert.equal(record.bytesDown, 11);
    } finally {
      await server.close();
    }
  });

  test('greeting, request and data in one write, then EOF: the data still reaches the target', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      c.socket.end(Buffer.concat([GREETING_NO_AUTH, connectRequest(target()), Buffer.from('all at once')]));
      assert.deepEqual(await c.take(2), hex('05 00'));
      const { value } = await c.read(decodeReply);
      assert.equal(value.reply, 0);
      assert.equal((await c.end()).toString(), 'all at once');
      const record = await server.record(0);
      assert.equal(record.result, 'ok');
    } finally {
      await server.close();
    }
  });

  test('a SOCKS5 greeting and request split byte by byte still work', { timeout: 15_000 }, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await writeByteByByte(c.socket, GREETING_NO_AUTH);
      assert.deepEqual(await c.take(2), hex('05 00'));
      await writeByteByByte(c.socket, connectRequest({ type: 'domain', host: 'localhost', port: echo.port }));
      const { value } = await c.read(decodeReply);
      assert.equal(value.reply, 0);
      await echoThrough(c, 'split');
    } finally {
      await server.close();
    }
  });

  test('a SOCKS4a request split byte by byte still works', { timeout: 15_000 }, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await writeByteByByte(c.socket, socks4Connect({ type: 'domain', host: 'localhost', port: echo.port }, 'u'));
      assert.deepEqual((await c.take(8)).subarray(0, 2), hex('00 5a'));
      await echoThrough(c, 'split4');
    } finally {
      await server.close();
    }
  });

  test('the connection record: client, version, command, target, user, result and bytes each way', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 'wonderland']])) });
    try {
      const c = await server.client();
      const clientPort = c.socket.localPort;
      assert.deepEqual(await greet(c, [0x00, 0x02]), hex('05 02'));
      c.socket.write(hex('01 05'));
      c.socket.write(Buffer.concat([Buffer.from('alice'), hex('0a'), Buffer.from('wonderland')]));
      assert.deepEqual(await c.take(2), hex('01 00'));
      const { reply } = await request5(c, target());
      assert.equal(reply.reply, 0);
      await echoThrough(c, '12345');
      c.socket.write(Buffer.from('abc'));
      await c.take(3);
      c.socket.end();
      await c.end();
      const record = await server.record(0);
      assert.equal(server.records.length, 1);
      assert.ok(Math.abs(record.time - Date.now()) < 10_000);
      assert.ok(record.connectMs !== undefined && record.connectMs >= 0 && record.connectMs < 10_000);
      assert.deepEqual({ ...record, time: 0, durationMs: 0, handshakeMs: 0, connectMs: 0 }, {
        time: 0,
        client: `127.0.0.1:${clientPort}`,
        balancer: undefined,
        listener: `127.0.0.1:${server.port}`,
        version: 5,
        method: 'userpass',
        command: 'connect',
        target: `127.0.0.1:${echo.port}`,
        user: 'alice',
        ok: true,
        outcome: 'ok',
        reply: 0,
        rule: 'default: allow',
        limit: undefined,
        upstream: undefined,
        dialed: `127.0.0.1:${echo.port}`,
        bound: `127.0.0.1:${record.bound?.split(':')[1]}`,
        peer: undefined,
        result: 'ok',
        bytesUp: 8,
        bytesDown: 8,
        httpMethod: undefined,
        httpStatus: undefined,
        handshakeMs: 0,
        connectMs: 0,
        durationMs: 0,
        udp: undefined,
      });
      assert.ok(record.durationMs > 0 && record.durationMs < 10_000);
    } finally {
      await server.close();
    }
  });

  test('a SOCKS4 record names the USERID as the user', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      c.socket.write(socks4Connect(target(), 'bob'));
      await c.take(8);
      c.socket.end(Buffer.from('xy'));
      assert.equal((await c.end()).toString(), 'xy');
      const record = await server.record(0);
      assert.deepEqual([record.version, record.command, record.user, record.target, record.result, record.bytesUp, record.bytesDown],
        [4, 'connect', 'bob', `127.0.0.1:${echo.port}`, 'ok', 2, 2]);
    } finally {
      await server.close();
    }
  });
});
