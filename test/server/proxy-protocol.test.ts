// A listener behind a load balancer (--proxy-protocol): the PROXY header is required, believed only from
// --proxy-protocol-from, and the client it names is the one rules, limits, the record and UDP see.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { Command } from '../../lib/codec/constants.ts';
import { encodeProxyHeader, type ProxyHeader } from '../../lib/codec/proxy-protocol.ts';
import { decodeReply, encodeRequest } from '../../lib/codec/socks5.ts';
import { AddressSet, parseCidr, type Cidr } from '../../lib/policy/address-set.ts';
import { Policy } from '../../lib/policy/policy.ts';
import { formatConnectionRecord } from '../../lib/server/log-line.ts';
import type { ServerConfig } from '../../lib/server/types.ts';
import { hex, refusedAtOnce, startEcho, type Collector, type EchoServer } from '../helpers/net.ts';
import { connectRequest, GREETING_NO_AUTH, startSocksServer, type TestServer } from '../helpers/socks.ts';
import { startUdpEcho, TestUdp, unwrap, wrap } from '../udp/udp-helpers.ts';

const T = { timeout: 20_000 };
/** The client the balancer forwards: another loopback address, so that it cannot be mistaken for the balancer. */
const CLIENT = '127.0.0.5';

const sources = (...texts: string[]): AddressSet => AddressSet.of(texts.map((text) => parseCidr(text) as Cidr));
const proxied = (host: string, port: number, version: 1 | 2 = 2): Buffer => encodeProxyHeader({
  version, command: 'proxy', addresses: { transport: 'tcp', source: { host, port }, destination: { host: host.includes(':') ? '::1' : '127.0.0.1', port: 1080 } },
});
const LOCAL: ProxyHeader = { version: 2, command: 'local', addresses: undefined };

/** A PROXY protocol listener on 127.0.0.1 trusting 127.0.0.1 only; a PROXY listener counts as exposed, so
 * loopback targets (the echo) need a rule. */
function startBehindBalancer(config: Partial<ServerConfig> = {}): Promise<TestServer> {
  return startSocksServer({ proxyProtocolFrom: sources('127.0.0.1/32'), policy: Policy.parse(['allow to=loopback']), ...config }, '127.0.0.1', { proxyProtocol: true });
}

/** Writes `head` and a SOCKS5 CONNECT to the echo; resolves with the reply code, after an echoed round trip
 * when it is a success. */
async function connectThrough(c: Collector, head: Buffer, echo: EchoServer, pieces = 1): Promise<number> {
  const whole = Buffer.concat([head, GREETING_NO_AUTH, connectRequest({ type: 'ipv4', host: '127.0.0.1', port: echo.port })]);
  const step = Math.ceil(whole.length / pieces);
  for (let at = 0; at < whole.length; at += step) {
    c.socket.write(whole.subarray(at, at + step));
    // Each piece its own read: wait until the server has taken it (the method selection is the sign for the last ones).
    if (pieces > 1) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(await c.take(2), hex('05 00'));
  const { value } = await c.read(decodeReply);
  if (value.reply !== 0) return value.reply;
  c.socket.write('ping through the balancer');
  assert.equal((await c.take(25)).toString(), 'ping through the balancer');
  c.socket.end();
  await c.end();
  return 0;
}

describe('PROXY protocol listeners', () => {
  for (const version of [1, 2] as const) {
    test(`a v${version} header names the client: record.client is it, record.balancer the balancer, the relay works`, T, async () => {
      const echo = await startEcho();
      const server = await startBehindBalancer();
      try {
        const c = await server.client();
        const balancerPort = c.socket.localPort;
        assert.equal(await connectThrough(c, proxied('203.0.113.7', 4444, version), echo), 0);
        const record = await server.record(0);
        assert.equal(record.client, '203.0.113.7:4444');
        assert.equal(record.balancer, `127.0.0.1:${balancerPort}`);
        assert.equal(record.outcome, 'ok');
        assert.match(formatConnectionRecord(record), new RegExp(`^\\S+ 203\\.0\\.113\\.7:4444 socks5 connect 127\\.0\\.0\\.1:${echo.port} ok .* balancer=127\\.0\\.0\\.1:${balancerPort}$`));
      } finally {
        await server.close();
        await echo.close();
      }
    });
  }

  test('a header split across reads, and the greeting in the same read as its end, are parsed alike', T, async () => {
    const echo = await startEcho();
    const server = await startBehindBalancer();
    try {
      const c = await server.client();
      assert.equal(await connectThrough(c, proxied('2001:db8::7', 5555), echo, 7), 0);
      assert.equal((await server.record(0)).client, '[2001:db8::7]:5555');
    } finally {
      await server.close();
      await echo.close();
    }
  });

  test('LOCAL (a health check) keeps the connection\'s own address', T, async () => {
    const echo = await startEcho();
    const server = await startBehindBalancer();
    try {
      const c = await server.client();
      const balancerPort = c.socket.localPort;
      assert.equal(await connectThrough(c, encodeProxyHeader(LOCAL), echo), 0);
      const record = await server.record(0);
      assert.equal(record.client, `127.0.0.1:${balancerPort}`);
      assert.equal(record.balancer, undefined);
    } finally {
      await server.close();
      await echo.close();
    }
  });

  test('a peer outside --proxy-protocol-from is closed at once, unheard, and a warning says why', T, async () => {
    const warnings: string[] = [];
    const server = await startBehindBalancer({ onWarning: (line) => warnings.push(line) });
    try {
      assert.equal(await refusedAtOnce(server.port, CLIENT), true);
      assert.match(warnings.join('\n'), /refused a connection from 127\.0\.0\.5: a PROXY protocol listener takes connections only from --proxy-protocol-from/);
      assert.equal(server.records.length, 0);
    } finally {
      await server.close();
    }
  });

  test('a connection reset before it is accepted (a balancer\'s connect-and-close check) is dropped: no "refused from ?" warning, no record', T, async () => {
    const warnings: string[] = [];
    const echo = await startEcho();
    const server = await startBehindBalancer({ onWarning: (line) => warnings.push(line) });
    try {
      // Another process connects and resets while this one's loop is blocked, so that Node accepts a socket
      // whose peer is already gone (it has no remote address).
      execFileSync(process.execPath, ['-e', `const s = require('node:net').connect(${server.port}, '127.0.0.1', () => s.resetAndDestroy())`]);
      // A later connection: by its record, the reset one has been accepted too.
      assert.equal(await connectThrough(await server.client(), encodeProxyHeader(LOCAL), echo), 0);
      await server.record(0);
      assert.deepEqual(warnings, []);
      assert.deepEqual(server.records.map((record) => record.client), [`127.0.0.1:${server.records[0]?.client.split(':')[1]}`]);
    } finally {
      await server.close();
      await echo.close();
    }
  });

  test('without --proxy-protocol-from nobody may connect', T, async () => {
    const server = await startBehindBalancer({ proxyProtocolFrom: undefined });
    try {
      assert.equal(await refusedAtOnce(server.port), true);
      assert.equal(server.records.length, 0);
    } finally {
      await server.close();
    }
  });

  test('the header is required: a SOCKS greeting first is refused without a reply', T, async () => {
    const server = await startBehindBalancer();
    try {
      const c = await server.client();
      c.socket.write(GREETING_NO_AUTH);
      assert.equal((await c.end()).length, 0);
      const record = await server.record(0);
      assert.equal(record.outcome, 'bad-request');
      assert.match(record.result, /^no valid PROXY protocol header: not a PROXY protocol header \(first byte 0x05\)$/);
    } finally {
      await server.close();
    }
  });

  test('the handshake deadline covers the header', T, async () => {
    const server = await startBehindBalancer({ handshakeTimeoutMs: 300 });
    try {
      const c = await server.client();
      c.socket.write(proxied('203.0.113.7', 1).subarray(0, 10));
      await c.end(3000);
      const record = await server.record(0);
      assert.equal(record.outcome, 'timeout');
      assert.equal(record.result, 'client did not complete the PROXY header in time');
    } finally {
      await server.close();
    }
  });

  test('rules see the real client: from= matches the header\'s address, not the balancer\'s', T, async () => {
    const echo = await startEcho();
    const server = await startBehindBalancer({ policy: Policy.parse(['deny from=203.0.113.0/24', 'allow to=loopback']) });
    try {
      assert.equal(await connectThrough(await server.client(), proxied('203.0.113.7', 1), echo), 0x02);
      assert.equal(await connectThrough(await server.client(), proxied('198.51.100.7', 1), echo), 0);
      assert.equal((await server.record(0)).rule, 'deny from=203.0.113.0/24');
    } finally {
      await server.close();
      await echo.close();
    }
  });

  test('--max-connections-per-ip counts real clients: one balancer carries many, one client is capped', T, async () => {
    const echo = await startEcho();
    const server = await startBehindBalancer({ maxConnectionsPerIp: 1 });
    try {
      const held = await server.client();
      held.socket.write(Buffer.concat([proxied('203.0.113.7', 1), GREETING_NO_AUTH]));
      assert.deepEqual(await held.take(2), hex('05 00'));
      // Same balancer, another client: in; the same client again: over its limit.
      assert.equal(await connectThrough(await server.client(), proxied('198.51.100.7', 1), echo), 0);
      const again = await server.client();
      again.socket.write(Buffer.concat([proxied('203.0.113.7', 2), GREETING_NO_AUTH]));
      assert.equal((await again.end()).length, 0);
      const refused = (await server.record(1)).outcome === 'limit' ? await server.record(1) : await server.record(2);
      assert.equal(refused.outcome, 'limit');
      assert.equal(refused.client, '203.0.113.7:2');
      assert.deepEqual(server.server.status().topClients, [['203.0.113.7', 1]]);
    } finally {
      await server.close();
      await echo.close();
    }
  });

  test('UDP ASSOCIATE takes datagrams from the header\'s client, not from the balancer', T, async () => {
    const target = await startUdpEcho();
    const client = await TestUdp.bind(CLIENT);
    const balancer = await TestUdp.bind('127.0.0.1');
    const server = await startBehindBalancer();
    try {
      const control = await server.client();
      control.socket.write(Buffer.concat([proxied(CLIENT, client.port), GREETING_NO_AUTH, encodeRequest({ command: Command.UDP_ASSOCIATE, address: { type: 'ipv4', host: '0.0.0.0', port: 0 } })]));
      assert.deepEqual(await control.take(2), hex('05 00'));
      const { value: reply } = await control.read(decodeReply);
      assert.equal(reply.reply, 0);
      const to = { type: 'ipv4', host: '127.0.0.1', port: target.port } as const;
      await balancer.send(wrap(to, 'from the balancer'), reply.address.port, reply.address.host);
      await client.send(wrap(to, 'from the client'), reply.address.port, reply.address.host);
      const back = unwrap((await client.nth(0)).msg);
      assert.equal(back.payload.toString(), 'from the client');
      assert.equal(target.received.length, 1);
      control.socket.end();
      const record = await server.record(0);
      assert.equal(record.client, `${CLIENT}:${client.port}`);
      assert.equal(record.udp?.drops.source, 1);
    } finally {
      await server.close();
      client.close();
      balancer.close();
      target.close();
    }
  });
});
