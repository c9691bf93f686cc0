// The destination policy as the server applies it: every address actually dialed is checked (after the
// server's own lookup, so rebinding cannot get around it), numeric spellings of loopback are caught on a
// non-loopback listener, and BIND peers and UDP datagrams are checked too. Name lookups are bounded: a
// blackholed name server does not delay localhost or an IP literal.
import { usersAuthenticator } from '../../lib/server/auth.ts';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeUdpDatagram } from '../../lib/codec/socks5.ts';
import { Policy } from '../../lib/policy/policy.ts';
import { createResolver } from '../../lib/resolver/resolver.ts';
import type { Resolver } from '../../lib/resolver/types.ts';
import { startDnsResponder, type DnsResponder } from '../resolver/dns-responder.ts';
import { hex, startEcho, withTimeout, type EchoServer } from '../helpers/net.ts';
import { greet, request5, socks4Connect, startSocksServer } from '../helpers/socks.ts';
import { startUdpEcho, type TestUdp } from '../udp/udp-helpers.ts';
import dgram from 'node:dgram';

const T = { timeout: 20_000 };
const REFUSED5 = hex('05 02 00 01 00000000 0000');

function domainRequest(name: string, port: number): Buffer {
  const bytes = Buffer.from(name);
  return Buffer.concat([hex('05 01 00 03'), Buffer.from([bytes.length]), bytes, Buffer.from([port >> 8, port & 0xff])]);
}

describe('the policy on a non-loopback listener (0.0.0.0, reached through 127.0.0.1)', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });

  const spellings = ['127.0.0.1', '127.1', '2130706433', '0x7f000001', '0177.0.0.1', '::ffff:127.0.0.1', 'localhost.', '0.0.0.0'];
  for (const spelling of spellings) {
    test(`a CONNECT to ${spelling} (the proxy host itself) is refused with 05 02 and the rule named`, T, async () => {
      const resolver: Resolver = { lookup: (_host, _client, callback) => setImmediate(callback, null, [{ address: '127.0.0.1', family: 4 }]) };
      const server = await startSocksServer({ resolver }, '0.0.0.0');
      try {
        const c = await server.client();
        await greet(c);
        c.socket.write(domainRequest(spelling, echo.port));
        assert.deepEqual(await c.end(), REFUSED5);
        const record = await server.record(0);
        assert.equal(record.outcome, 'refused-rule');
        assert.match(record.rule ?? '', spelling === '0.0.0.0' ? /^default: deny unspecified/ : /^default: deny loopback \(non-loopback listener\)$/);
      } finally {
        await server.close();
      }
    });
  }

  test('an --allow rule opens loopback again; the same request is then relayed', T, async () => {
    const server = await startSocksServer({ policy: Policy.parse([`allow to=127.0.0.1 port=${echo.port}`]) }, '0.0.0.0');
    try {
      const c = await server.client();
      await greet(c);
      const { reply } = await request5(c, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
      assert.equal(reply.reply, 0);
      c.socket.write('through');
      assert.equal((await c.take(7)).toString(), 'through');
      assert.equal((await closeAndRecord(c, server)).rule, `allow to=127.0.0.1 port=${echo.port}`);
    } finally {
      await server.close();
    }
  });

  test('a SOCKS4 request for DSTIP 0.0.0.0 is refused (5B), even on loopback', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      c.socket.write(socks4Connect({ type: 'ipv4', host: '0.0.0.0', port: echo.port }));
      assert.deepEqual(await c.end(), hex('00 5b 0000 00000000'));
    } finally {
      await server.close();
    }
  });
});

describe('rules as the server applies them (loopback listener)', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });

  test('DNS rebinding: the address the first lookup gave is checked and dialed; the name is never looked up again', T, async () => {
    let lookups = 0;
    // A resolver that answers with an allowed address first, then with a denied one.
    const resolver: Resolver = {
      lookup(_host, _client, callback) {
        lookups++;
        setImmediate(callback, null, [{ address: lookups === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }]);
      },
    };
    const server = await startSocksServer({ resolver, policy: Policy.parse(['deny to=127.0.0.2']) });
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(domainRequest('rebind.test', echo.port));
      const reply = await c.take(10);
      assert.equal(reply[1], 0x00);
      assert.equal(lookups, 1);
      const peer = await echo.peer(echo.peers.length - 1);
      assert.equal(peer.remoteAddress, '127.0.0.1');
      const second = await server.client();
      await greet(second);
      second.socket.write(domainRequest('rebind.test', echo.port));
      assert.deepEqual(await second.end(), REFUSED5);
      assert.equal(lookups, 2);
      c.socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('a name whose addresses are all denied is refused; the first allowed address is the one dialed', T, async () => {
    const resolver: Resolver = { lookup: (_h, _c, callback) => setImmediate(callback, null, [{ address: '10.1.2.3', family: 4 }, { address: '127.0.0.1', family: 4 }]) };
    const server = await startSocksServer({ resolver, policy: Policy.parse(['deny private']) });
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(domainRequest('two.test', echo.port));
      assert.equal((await c.take(10))[1], 0x00);
      assert.equal((await closeAndRecord(c, server)).dialed, `127.0.0.1:${echo.port}`);
    } finally {
      await server.close();
    }
  });

  test('to=*.suffix refuses before any lookup; port ranges, cmd= and user= terms', T, async () => {
    let lookups = 0;
    const resolver: Resolver = { lookup: (_h, _c, callback) => { lookups++; setImmediate(callback, null, [{ address: '127.0.0.1', family: 4 }]); } };
    const server = await startSocksServer({
      resolver,
      authenticate: usersAuthenticator(new Map([['alice', 'a'], ['bob', 'b']])),
      policy: Policy.parse(['deny to=*.internal', 'deny port=1-1000 user=bob', 'deny cmd=udp user=alice']),
    });
    try {
      const cases: Array<{ user: string; request: Buffer; refused: boolean }> = [
        { user: 'alice', request: domainRequest('db.internal', echo.port), refused: true },
        { user: 'bob', request: domainRequest('ok.test', 80), refused: true },
        { user: 'alice', request: domainRequest('ok.test', echo.port), refused: false },
        { user: 'alice', request: hex('05 03 00 01 00000000 0000'), refused: true },
        { user: 'bob', request: hex('05 03 00 01 00000000 0000'), refused: false },
      ];
      for (const { user, request, refused } of cases) {
        const c = await server.client();
        await greet(c, [0x02]);
        c.socket.write(Buffer.concat([hex('01'), Buffer.from([user.length]), Buffer.from(user), hex('01'), Buffer.from(user[0] ?? '')]));
        assert.deepEqual(await c.take(2), hex('01 00'));
        c.socket.write(request);
        const reply = await c.take(10);
        assert.equal(reply[1] === 0x02, refused, `${user} ${request.toString('hex')}: ${reply.toString('hex')}`);
        c.socket.destroy();
      }
      assert.equal(lookups, 1, 'only ok.test for alice was looked up');
    } finally {
      await server.close();
    }
  });

  test('UDP: a datagram to a denied destination is dropped (drop_rule), an allowed one is relayed', T, async () => {
    const udpEcho: TestUdp = await startUdpEcho('127.0.0.1');
    const server = await startSocksServer({ policy: Policy.parse(['deny to=127.0.0.2']) });
    const client = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
      const c = await server.client();
      await greet(c);
      c.socket.write(hex(`05 03 00 01 7f000001 ${client.address().port.toString(16).padStart(4, '0')}`));
      const reply = await c.take(10);
      assert.equal(reply[1], 0);
      const relayPort = reply.readUInt16BE(8);
      const replies: Buffer[] = [];
      client.on('message', (msg) => replies.push(msg));
      const send = (host: string): void => { client.send(encodeUdpDatagram({ frag: 0, address: { type: 'ipv4', host, port: udpEcho.port }, payload: Buffer.from(host) }), relayPort, '127.0.0.1'); };
      send('127.0.0.2');
      send('127.0.0.1');
      await withTimeout((async () => { while (replies.length === 0) await new Promise((r) => setTimeout(r, 10)); })(), 3000, 'the allowed datagram to come back');
      assert.equal(replies.length, 1);
      assert.ok(replies[0]?.subarray(10).equals(Buffer.from('127.0.0.1')));
      c.socket.end();
      const record = await server.record(0);
      assert.equal(record.udp?.drops.rule, 1);
    } finally {
      client.close();
      await server.close();
      await udpEcho.close();
    }
  });

  test('BIND: a denied expected peer is refused before anything listens', T, async () => {
    const server = await startSocksServer({ policy: Policy.parse(['deny cmd=bind to=127.0.0.3']) });
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(hex('05 02 00 01 7f000003 0000'));
      assert.deepEqual(await c.end(), REFUSED5);
      const record = await server.record(0);
      assert.match(record.result, /rule: deny cmd=bind to=127\.0\.0\.3/);
      assert.equal(record.bound, undefined);
    } finally {
      await server.close();
    }
  });
});

describe('bounded name resolution in the server', () => {
  let dns: DnsResponder;
  let echo: EchoServer;
  before(async () => {
    dns = await startDnsResponder((name) => (name.startsWith('dead') ? 'blackhole' : name === 'live.test' ? { a: ['127.0.0.1'] } : 'nxdomain'));
    echo = await startEcho();
  });
  after(async () => { await dns.close(); await echo.close(); });

  test('names that never answer get 05 04 at the lookup deadline, and meanwhile localhost and an IP literal are served at once', T, async () => {
    const resolver = createResolver({ timeoutMs: 1500, servers: [dns.server], hostsFile: null });
    const server = await startSocksServer({ resolver, connectTimeoutMs: 5000 });
    try {
      const dead = [];
      for (let i = 0; i < 6; i++) {
        const c = await server.client();
        await greet(c);
        c.socket.write(domainRequest(`dead${i}.test`, 80));
        dead.push(c);
      }
      const started = performance.now();
      const literal = await server.client();
      await greet(literal);
      assert.equal((await request5(literal, { type: 'ipv4', host: '127.0.0.1', port: echo.port })).reply.reply, 0);
      const live = await server.client();
      await greet(live);
      live.socket.write(domainRequest('live.test', echo.port));
      assert.equal((await live.take(10))[1], 0);
      assert.ok(performance.now() - started < 1000, `served after ${(performance.now() - started).toFixed(0)} ms while dead names waited`);
      for (const c of dead) assert.deepEqual(await c.end(4000), hex('05 04 00 01 00000000 0000'));
      literal.socket.destroy();
      live.socket.destroy();
    } finally {
      await server.close();
      resolver.close();
    }
  });
});

describe('names the rules and the resolver would read differently', () => {
  let dns: DnsResponder;
  let echo: EchoServer;
  before(async () => {
    // Every name "resolves" to the echo server: only the rules stand between a client and it.
    dns = await startDnsResponder(() => ({ a: ['127.0.0.1'] }));
    echo = await startEcho();
  });
  after(async () => { await dns.close(); await echo.close(); });

  // c-ares stops at a NUL and reads "\DDD" (decimal) and "\c" as escapes: each of these would be looked up
  // as a name the rules did not see (evil.example, evil.test).
  const tricks = ['evil.example\0.good.test', 'evil.test\0.good.test', '\\101vil.good.test', 'e\\vil.good.test', 'a b.good.test', 'tab\t.good.test'];
  for (const name of tricks) {
    test(`${JSON.stringify(name)} is refused with a complete 05 04 before any lookup, whatever the rules allow`, T, async () => {
      const resolver = createResolver({ servers: [dns.server], hostsFile: null, timeoutMs: 5000 });
      const server = await startSocksServer({ resolver, policy: Policy.parse(['allow to=*.good.test', 'deny any']) });
      const queries = dns.queries.length;
      try {
        const c = await server.client();
        await greet(c);
        c.socket.write(domainRequest(name, echo.port));
        assert.deepEqual(await c.end(), hex('05 04 00 01 00000000 0000'));
        assert.equal((await server.record(0)).outcome, 'upstream-unreachable');
        assert.deepEqual(dns.queries.slice(queries), []);
      } finally {
        await server.close();
        resolver.close();
      }
    });
  }

  test('the same over SOCKS4a: 5B, no lookup; a good name under the same rule is relayed', T, async () => {
    const resolver = createResolver({ servers: [dns.server], hostsFile: null, timeoutMs: 5000 });
    const server = await startSocksServer({ resolver, policy: Policy.parse(['allow to=*.good.test', 'deny any']) });
    const queries = dns.queries.length;
    try {
      const bad = await server.client();
      bad.socket.write(Buffer.concat([hex('04 01'), Buffer.from([echo.port >> 8, echo.port & 0xff]), hex('00000001 00'), Buffer.from('\\101vil.good.test\0')]));
      assert.deepEqual(await bad.end(), hex('00 5b 0000 00000000'));
      assert.deepEqual(dns.queries.slice(queries), []);
      const good = await server.client();
      await greet(good);
      good.socket.write(domainRequest('_svc.ok.good.test', echo.port));
      assert.equal((await good.take(10))[1], 0x00);
      assert.ok(dns.queries.slice(queries).includes('A _svc.ok.good.test'), dns.queries.join(', '));
      good.socket.destroy();
    } finally {
      await server.close();
      resolver.close();
    }
  });
});

async function closeAndRecord(c: { socket: import('node:net').Socket; end(ms?: number): Promise<Buffer> }, server: Awaited<ReturnType<typeof startSocksServer>>): Promise<import('../../lib/server/types.ts').ConnectionRecord> {
  c.socket.end();
  await c.end();
  return server.record(0);
}
