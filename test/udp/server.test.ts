/** UDP ASSOCIATE in SocksServer, driven by raw control connections and raw datagrams: the reply's BND.ADDR,
 * relaying both ways over IPv4 and IPv6, latching, names, limits, port range, idle timeout, the log line. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from '../../lib/codec/address.ts';
import { Command } from '../../lib/codec/constants.ts';
import { encodeSocks4Request } from '../../lib/codec/socks4.ts';
import { encodeRequest } from '../../lib/codec/socks5.ts';
import { formatConnectionRecord } from '../../lib/server/log-line.ts';
import type { Resolver } from '../../lib/resolver/types.ts';
import { hex, sleep } from '../helpers/net.ts';
import { greet, startSocksServer, type TestServer } from '../helpers/socks.ts';
import { associate, portIsFree, recordOf, startUdpEcho, TestUdp, unwrap, waitUntilFree, wrap, ZERO4 } from './udp-helpers.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';

const T = { timeout: 15_000 };

/** Names the tests use; anything else fails as NXDOMAIN would. */
const fakeResolver: Resolver = {
  lookup(host, _client, callback) {
    if (host === 'echo4.test') return setImmediate(callback, null, [{ address: '127.0.0.1', family: 4 }]);
    if (host === 'echo6.test') return setImmediate(callback, null, [{ address: '::1', family: 6 }]);
    setImmediate(callback, Object.assign(new Error(`queryA ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), []);
  },
};

for (const listenHost of ['127.0.0.1', '::1']) {
  const family: 'ipv4' | 'ipv6' = listenHost.includes(':') ? 'ipv6' : 'ipv4';
  describe(`UDP ASSOCIATE, server on ${listenHost}`, () => {
    let server: TestServer;
    let echo4: TestUdp;
    let echo6: TestUdp;
    before(async () => {
      server = await startSocksServer({ resolver: fakeResolver }, listenHost);
      echo4 = await startUdpEcho('127.0.0.1');
      echo6 = await startUdpEcho('::1');
    });
    after(async () => {
      await server.close();
      echo4.close();
      echo6.close();
    });

    test(`the reply's BND.ADDR is ${listenHost} (never the wildcard) and BND.PORT a bound UDP port`, T, async () => {
      const { control, reply, bytes } = await associate(server);
      assert.equal(reply.reply, 0);
      assert.deepEqual(reply.address, { type: family, host: listenHost, port: reply.address.port });
      assert.equal(bytes.length, family === 'ipv4' ? 10 : 22);
      assert.ok(reply.address.port > 0);
      assert.equal(await portIsFree(listenHost, reply.address.port), false, 'the relay port is bound');
      control.socket.destroy();
      await waitUntilFree(listenHost, reply.address.port, 1000);
    });

    for (const [name, echoOf, target] of [
      ['an IPv4 target', () => echo4, (port: number): Address => ({ type: 'ipv4', host: '127.0.0.1', port })],
      ['an IPv6 target', () => echo6, (port: number): Address => ({ type: 'ipv6', host: '::1', port })],
      ['a name the server resolves', () => echo4, (port: number): Address => ({ type: 'domain', host: 'echo4.test', port })],
      ['an IPv6 name', () => echo6, (port: number): Address => ({ type: 'domain', host: 'echo6.test', port })],
    ] as const) {
      test(`relays to ${name} and wraps the reply with the target's address`, T, async () => {
        const echo = echoOf();
        const { control, reply } = await associate(server);
        const client = await TestUdp.bind(listenHost);
        try {
          const dst = target(echo.port);
          const seen = echo.received.length;
          await client.send(wrap(dst, 'ping'), reply.address.port, listenHost);
          const back = unwrap((await client.nth(0)).msg);
          assert.equal(back.payload.toString(), 'ping');
          assert.equal(back.frag, 0);
          // RFC 1928 §7: the reply names its source, as an address even when the request used a name.
          assert.deepEqual(back.address, echo.socket.address().family === 'IPv6'
            ? { type: 'ipv6', host: '::1', port: echo.port }
            : { type: 'ipv4', host: '127.0.0.1', port: echo.port });
          assert.equal(echo.received.length, seen + 1);
          assert.equal(echo.received[seen]?.msg.toString(), 'ping', 'the target gets the bare payload');
        } finally {
          client.close();
          control.socket.destroy();
        }
      });
    }

    test('latches to the first source port when the request said 0.0.0.0:0: another port on the same IP is dropped', T, async () => {
      const { control, reply, client: from } = await associate(server);
      const first = await TestUdp.bind(listenHost);
      const second = await TestUdp.bind(listenHost);
      try {
        const dst: Address = { type: 'ipv4', host: '127.0.0.1', port: echo4.port };
        await first.send(wrap(dst, 'one'), reply.address.port, listenHost);
        assert.equal(unwrap((await first.nth(0)).msg).payload.toString(), 'one');
        const seen = echo4.received.length;
        await second.send(wrap(dst, 'intruder'), reply.address.port, listenHost);
        await first.send(wrap(dst, 'two'), reply.address.port, listenHost);
        assert.equal(unwrap((await first.nth(1)).msg).payload.toString(), 'two');
        assert.deepEqual(echo4.received.slice(seen).map((d) => d.msg.toString()), ['two']);
        assert.equal(second.received.length, 0);
      } finally {
        first.close();
        second.close();
        control.socket.destroy();
      }
      const record = await recordOf(server, from);
      assert.equal(record.udp?.drops.source, 1);
      assert.equal(record.udp.datagramsUp, 2);
    });

    test('takes datagrams only from DST.PORT when the request names it', T, async () => {
      const client = await TestUdp.bind(listenHost);
      const other = await TestUdp.bind(listenHost);
      const dstAddress: Address = { type: family, host: listenHost, port: client.port };
      const { control, reply, client: from } = await associate(server, dstAddress);
      try {
        const dst: Address = { type: 'ipv4', host: '127.0.0.1', port: echo4.port };
        const seen = echo4.received.length;
        await other.send(wrap(dst, 'first but wrong port'), reply.address.port, listenHost);
        await client.send(wrap(dst, 'right port'), reply.address.port, listenHost);
        assert.equal(unwrap((await client.nth(0)).msg).payload.toString(), 'right port');
        assert.deepEqual(echo4.received.slice(seen).map((d) => d.msg.toString()), ['right port']);
      } finally {
        client.close();
        other.close();
        control.socket.destroy();
      }
      assert.equal((await recordOf(server, from)).udp?.drops.source, 1);
    });
  });
}

describe('UDP ASSOCIATE options and limits', () => {
  test('the connection record counts datagrams and bytes each way and the drops, and the log line shows them', T, async () => {
    const server = await startSocksServer();
    const echo = await startUdpEcho();
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const { control, reply } = await associate(server);
      const dst: Address = { type: 'ipv4', host: '127.0.0.1', port: echo.port };
      for (let i = 0; i < 3; i++) await client.send(wrap(dst, 'x'.repeat(100)), reply.address.port, '127.0.0.1');
      await client.nth(2);
      await client.send(wrap(dst, 'fragment', 1), reply.address.port, '127.0.0.1');
      await client.send(hex('00 00 00 01 7f00'), reply.address.port, '127.0.0.1');
      await sleep(100);
      control.socket.end();
      const record = await server.record(0);
      assert.equal(record.command, 'udp');
      assert.equal(record.ok, true);
      assert.equal(record.result, 'ok');
      assert.equal(record.bytesUp, 300);
      assert.equal(record.bytesDown, 300);
      assert.deepEqual(record.udp, {
        datagramsUp: 3, bytesUp: 300, datagramsDown: 3, bytesDown: 300, dropped: 2, droppedBytes: 6 + 18,
        drops: { source: 0, frag: 1, malformed: 1, 'bad-target': 0, resolve: 0, rule: 0, send: 0, 'too-big': 0, route: 0 },
      });
      const line = formatConnectionRecord(record);
      assert.match(line, /socks5 udp 0\.0\.0\.0:0 ok up=300B down=300B .* udp_up=3 udp_down=3 dropped=2 dropped_bytes=24 drop_frag=1 drop_malformed=1$/);
    } finally {
      client.close();
      echo.close();
      await server.close();
    }
  });

  test('advertise: BND.ADDR is the configured address, BND.PORT still the real port', T, async () => {
    const server = await startSocksServer({ advertise: '203.0.113.7' });
    try {
      const { control, reply } = await associate(server);
      assert.equal(reply.address.host, '203.0.113.7');
      assert.equal(await portIsFree('127.0.0.1', reply.address.port), false);
      control.socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('without the udp command (--no-udp): 05 07 00 01 0.0.0.0:0', T, async () => {
    const server = await startSocksServer({ commands: {} });
    try {
      const { control, bytes } = await associate(server);
      assert.deepEqual(bytes, hex('05 07 00 01 00000000 0000'));
      await control.end();
    } finally {
      await server.close();
    }
  });

  test('a SOCKS4 request with command 3 gets 0x5B', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      c.socket.write(encodeSocks4Request({ command: Command.UDP_ASSOCIATE, address: { type: 'ipv4', host: '127.0.0.1', port: 53 }, userId: '' }));
      assert.equal((await c.take(8))[1], 0x5b);
    } finally {
      await server.close();
    }
  });

  test('with users configured, UDP ASSOCIATE needs RFC 1929 auth first, then relays', T, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 's3cret']])) });
    const echo = await startUdpEcho();
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const denied = await server.client();
      assert.deepEqual(await greet(denied, [0x00]), hex('05 ff'));
      const { control, reply, client: from } = await associate(server, ZERO4, { user: 'alice', pass: 's3cret' });
      assert.equal(reply.reply, 0);
      await client.send(wrap({ type: 'ipv4', host: '127.0.0.1', port: echo.port }, 'authed'), reply.address.port, '127.0.0.1');
      assert.equal(unwrap((await client.nth(0)).msg).payload.toString(), 'authed');
      control.socket.destroy();
      assert.equal((await recordOf(server, from)).user, 'alice');
    } finally {
      client.close();
      echo.close();
      await server.close();
    }
  });

  test('maxUdpAssociationsPerClient: the third of two allowed gets 05 02; closing one frees a place', T, async () => {
    const server = await startSocksServer({ maxUdpAssociationsPerClient: 2 });
    try {
      const a = await associate(server);
      const b = await associate(server);
      assert.equal(a.reply.reply, 0);
      assert.equal(b.reply.reply, 0);
      const c = await associate(server);
      assert.equal(c.reply.reply, 0x02);
      const refused = await server.record(0);
      assert.match(refused.result, /2 UDP associations open already/);
      a.control.socket.destroy();
      await server.record(1);
      const d = await associate(server);
      assert.equal(d.reply.reply, 0);
      b.control.socket.destroy();
      d.control.socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('udpPortRange: relay ports come from the range; when it is used up the reply is 05 01', T, async () => {
    const probe = await TestUdp.bind('127.0.0.1');
    const low = probe.port;
    probe.close();
    const server = await startSocksServer({ udpPortRange: { low, high: low } });
    try {
      const a = await associate(server);
      assert.equal(a.reply.reply, 0);
      assert.equal(a.reply.address.port, low);
      const b = await associate(server);
      assert.equal(b.reply.reply, 0x01);
      assert.match((await server.record(0)).result, /general SOCKS server failure \(cannot open a UDP relay socket on 127\.0\.0\.1: address already in use\)/);
      a.control.socket.destroy();
      await server.record(1);
      const c = await associate(server);
      assert.equal(c.reply.address.port, low, 'the port is free again once its association ended');
      c.control.socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('udpIdleTimeoutMs: an association with no traffic ends, the server closes the control connection and frees the port', T, async () => {
    const server = await startSocksServer({ udpIdleTimeoutMs: 300 });
    try {
      const started = performance.now();
      const { control, reply } = await associate(server);
      await control.end(3000);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 2000, `ended after ${elapsed} ms`);
      assert.equal((await server.record(0)).result, 'ok, ended: idle-timeout');
      assert.ok(await portIsFree('127.0.0.1', reply.address.port));
    } finally {
      await server.close();
    }
  });

  test('traffic keeps an association alive past the idle timeout', T, async () => {
    const server = await startSocksServer({ udpIdleTimeoutMs: 400 });
    const echo = await startUdpEcho();
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const { control, reply } = await associate(server);
      const dst: Address = { type: 'ipv4', host: '127.0.0.1', port: echo.port };
      for (let i = 0; i < 8; i++) {
        await client.send(wrap(dst, `tick ${i}`), reply.address.port, '127.0.0.1');
        await client.nth(i);
        await sleep(100);
      }
      assert.equal(control.ended || control.closed, false, 'still open after 800 ms of traffic');
      control.socket.destroy();
    } finally {
      client.close();
      echo.close();
      await server.close();
    }
  });

  test('server shutdown ends open associations and frees their ports', T, async () => {
    const server = await startSocksServer();
    const { reply } = await associate(server);
    await server.close(100);
    assert.ok(await portIsFree('127.0.0.1', reply.address.port));
  });

  test('an IPv4-mapped IPv6 target (::ffff:127.0.0.1) goes to the IPv4 target', T, async () => {
    const server = await startSocksServer();
    const echo = await startUdpEcho();
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const { control, reply } = await associate(server);
      await client.send(wrap({ type: 'ipv6', host: '::ffff:127.0.0.1', port: echo.port }, 'mapped'), reply.address.port, '127.0.0.1');
      const back = unwrap((await client.nth(0)).msg);
      assert.equal(back.payload.toString(), 'mapped');
      assert.deepEqual(back.address, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
      control.socket.destroy();
    } finally {
      client.close();
      echo.close();
      await server.close();
    }
  });

  test('a name that does not resolve is dropped and counted (drop_resolve), and later datagrams still flow', T, async () => {
    const server = await startSocksServer({ resolver: fakeResolver });
    const echo = await startUdpEcho();
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const { control, reply } = await associate(server);
      await client.send(wrap({ type: 'domain', host: 'nowhere.test', port: echo.port }, 'lost'), reply.address.port, '127.0.0.1');
      await client.send(wrap({ type: 'domain', host: 'echo4.test', port: echo.port }, 'found'), reply.address.port, '127.0.0.1');
      assert.equal(unwrap((await client.nth(0)).msg).payload.toString(), 'found');
      control.socket.destroy();
      const record = await server.record(0);
      assert.equal(record.udp?.drops.resolve, 1);
      assert.equal(record.udp.datagramsUp, 1);
    } finally {
      client.close();
      echo.close();
      await server.close();
    }
  });

  test('a request with bytes after it (pipelined) is still answered, and the extra bytes are discarded', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(Buffer.concat([encodeRequest({ command: Command.UDP_ASSOCIATE, address: ZERO4 }), Buffer.from('junk')]));
      assert.equal((await c.take(10))[1], 0);
      await sleep(50);
      assert.equal(c.closed, false);
      c.socket.destroy();
    } finally {
      await server.close();
    }
  });
});
