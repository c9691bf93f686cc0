/** SocksServer BIND (RFC 1928 §4/§6, SOCKS4 BIND) driven by raw sockets writing codec bytes: both replies
 * byte for byte, the announced address, data and half-close both ways, the record, and the listening port
 * freed in every outcome. */

import { Policy } from '../../lib/policy/policy.ts';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Address } from '../../lib/codec/address.ts';
import { Collector, hex } from '../helpers/net.ts';
import { authenticate, greet, startSocksServer, type TestServer } from '../helpers/socks.ts';
import { ANY4, ANY6, assertNotListening, bindRequest4, bindRequest5, connectPeer, portHex, readReply, type SeenReply } from './helpers.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';

const T = { timeout: 15_000 };

/** Greets (with credentials when given), sends BIND for `dst`, reads the first reply. */
async function requestBind5(c: Collector, dst: Address, credentials?: [string, string]): Promise<SeenReply> {
  if (credentials) {
    assert.deepEqual(await greet(c, [0x02]), hex('05 02'));
    assert.deepEqual(await authenticate(c, ...credentials), hex('01 00'));
  } else {
    assert.deepEqual(await greet(c), hex('05 00'));
  }
  c.socket.write(bindRequest5(dst));
  return readReply(c, 5);
}

/** Bytes each way, then half-close in the given order; the other direction keeps flowing after each EOF. */
async function exchange(client: Collector, peer: Collector, peerEndsFirst: boolean): Promise<void> {
  const up = randomBytes(100_000);
  const down = randomBytes(70_000);
  const first = peerEndsFirst ? { from: peer, to: client, data: down } : { from: client, to: peer, data: up };
  const second = peerEndsFirst ? { from: client, to: peer, data: up } : { from: peer, to: client, data: down };
  first.from.socket.end(first.data);
  assert.ok((await first.to.end()).equals(first.data), 'first direction, byte-exact, then EOF');
  // After that half-close, the other direction still works.
  second.from.socket.end(second.data);
  assert.ok((await second.to.end()).equals(second.data), 'second direction, byte-exact, then EOF');
}

for (const host of ['127.0.0.1', '::1']) {
  const family = host.includes(':') ? 'IPv6' : 'IPv4';
  describe(`BIND on a server listening on ${host}`, () => {
    let server: TestServer;
    let authServer: TestServer;
    before(async () => {
      server = await startSocksServer({}, host);
      authServer = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 'wonderland']])) }, host);
    });
    after(async () => {
      await server.close();
      await authServer.close();
    });

    for (const credentials of [undefined, ['alice', 'wonderland'] as [string, string]]) {
      const auth = credentials ? 'with username/password' : 'without authentication';
      for (const peerEndsFirst of [false, true]) {
        test(`SOCKS5 ${auth}, ${family}: both replies exact, data both ways, ${peerEndsFirst ? 'peer' : 'client'} half-closes first`, T, async () => {
          const s = credentials ? authServer : server;
          const records = s.records.length;
          const c = await s.client();
          const first = await requestBind5(c, { type: family === 'IPv6' ? 'ipv6' : 'ipv4', host, port: 0 }, credentials);
          // The first reply names where the peer must connect: the local address of this connection, never
          // 0.0.0.0 or ::, and a fresh port.
          assert.equal(first.code, 0);
          assert.equal(first.address.host, host);
          assert.notEqual(first.address.port, 0);
          assert.notEqual(first.address.port, s.port);
          const atyp = family === 'IPv6' ? '04 00000000000000000000000000000001' : '01 7f000001';
          assert.deepEqual(first.bytes, hex(`05 00 00 ${atyp} ${portHex(first.address.port)}`));

          const peer = await connectPeer(first.address);
          const peerPort = peer.socket.localPort ?? 0;
          const second = await readReply(c, 5);
          assert.deepEqual(second.bytes, hex(`05 00 00 ${atyp} ${portHex(peerPort)}`));

          await exchange(c, peer, peerEndsFirst);
          const record = await s.record(records);
          assert.equal(record.command, 'bind');
          assert.equal(record.ok, true);
          assert.equal(record.result, 'ok');
          assert.equal(record.user, credentials?.[0]);
          assert.deepEqual([record.bytesUp, record.bytesDown], [100_000, 70_000]);
          assert.equal(record.bound, family === 'IPv6' ? `[::1]:${first.address.port}` : `127.0.0.1:${first.address.port}`);
          assert.equal(record.peer, family === 'IPv6' ? `[::1]:${peerPort}` : `127.0.0.1:${peerPort}`);
          await assertNotListening(host, first.address.port);
        });
      }
    }

    test(`SOCKS5 ${family}: DST.ADDR all zeros (${family === 'IPv6' ? '::' : '0.0.0.0'}) accepts any peer`, T, async () => {
      const c = await server.client();
      const first = await requestBind5(c, family === 'IPv6' ? ANY6 : ANY4);
      const peer = await connectPeer(first.address);
      assert.equal((await readReply(c, 5)).code, 0);
      await exchange(c, peer, false);
    });

    if (family === 'IPv4') {
      test('SOCKS4 BIND: 8-byte replies 0x5A with the listening address, then the peer\'s; data both ways', T, async () => {
        const c = await server.client();
        c.socket.write(bindRequest4({ type: 'ipv4', host: '127.0.0.1', port: 0 }, 'bob'));
        const first = await readReply(c, 4);
        assert.notEqual(first.address.port, 0);
        assert.deepEqual(first.bytes, hex(`00 5a ${portHex(first.address.port)} 7f000001`));
        const peer = await connectPeer(first.address);
        const second = await readReply(c, 4);
        assert.deepEqual(second.bytes, hex(`00 5a ${portHex(peer.socket.localPort ?? 0)} 7f000001`));
        await exchange(c, peer, true);
        await assertNotListening(host, first.address.port);
      });

      test('SOCKS4a BIND with a host name (localhost): the server resolves it and accepts the peer from 127.0.0.1', T, async () => {
        const c = await server.client();
        c.socket.write(bindRequest4({ type: 'domain', host: 'localhost', port: 0 }));
        const first = await readReply(c, 4);
        assert.equal(first.code, 0x5a);
        const peer = await connectPeer(first.address);
        assert.equal((await readReply(c, 4)).code, 0x5a);
        await exchange(c, peer, false);
      });
    } else {
      test('SOCKS4 BIND over IPv6: refused with 0x5B (SOCKS4 replies carry IPv4 only), nothing listens', T, async () => {
        const records = server.records.length;
        const c = await server.client();
        c.socket.write(bindRequest4(ANY4));
        assert.deepEqual(await c.take(8), hex('00 5b 0000 00000000'));
        assert.equal((await c.end()).length, 0);
        const record = await server.record(records);
        assert.match(record.result, /^address type not supported \(SOCKS4 BIND cannot announce the IPv6 address ::1\)/);
        assert.equal(record.bound, undefined);
      });
    }
  });
}

describe('BIND details', () => {
  test('bytes the client sends before the peer arrives (pipelined with the request, and after the first reply) reach the peer first', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(Buffer.concat([bindRequest5(ANY4), Buffer.from('early,')]));
      const first = await readReply(c, 5);
      c.socket.write('later,');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const peer = await connectPeer(first.address);
      assert.equal((await readReply(c, 5)).code, 0);
      c.socket.end('relayed');
      assert.equal((await peer.end()).toString(), 'early,later,relayed');
      peer.socket.end();
      await c.end();
      assert.equal((await server.record(0)).bytesUp, 'early,later,relayed'.length);
    } finally {
      await server.close();
    }
  });

  test('the peer\'s first bytes (sent the moment it connects) follow the second reply', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(bindRequest5(ANY4));
      const first = await readReply(c, 5);
      const peer = await connectPeer(first.address);
      peer.socket.write('banner\r\n');
      assert.equal((await readReply(c, 5)).code, 0);
      assert.equal((await c.take(8)).toString(), 'banner\r\n');
    } finally {
      await server.close();
    }
  });

  test('only one peer: the port closes once the first has connected', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(bindRequest5(ANY4));
      const first = await readReply(c, 5);
      await connectPeer(first.address);
      await readReply(c, 5);
      await assertNotListening('127.0.0.1', first.address.port);
    } finally {
      await server.close();
    }
  });

  test('--advertise: the first reply announces the configured address; the port listens on the local one', T, async () => {
    const server = await startSocksServer({ advertise: '203.0.113.7' });
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(bindRequest5(ANY4));
      const first = await readReply(c, 5);
      assert.deepEqual(first.bytes, hex(`05 00 00 01 cb007107 ${portHex(first.address.port)}`));
      const peer = await connectPeer({ type: 'ipv4', host: '127.0.0.1', port: first.address.port });
      assert.equal((await readReply(c, 5)).code, 0);
      await exchange(c, peer, false);
    } finally {
      await server.close();
    }
  });

  test('a --deny cmd=bind rule refuses BIND requests (0x02), before anything listens', T, async () => {
    const server = await startSocksServer({ policy: Policy.parse(['deny cmd=bind']) });
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(bindRequest5(ANY4));
      assert.deepEqual((await readReply(c, 5)).bytes, hex('05 02 00 01 00000000 0000'));
      const record = await server.record(0);
      assert.equal(record.bound, undefined);
      assert.equal(record.rule, 'deny cmd=bind');
    } finally {
      await server.close();
    }
  });
});
