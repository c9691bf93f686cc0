/** Which requests go through which upstream: the default chain, `via=direct`, `via=NAME`, chains of two, and
 * the settings errors. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Policy } from '../../lib/policy/policy.ts';
import { SocxError } from '../../lib/errors.ts';
import { parseUpstreams } from '../../cmd/serve-upstreams.ts';
import { hex, startEcho, type EchoServer } from '../helpers/net.ts';
import { greet, request5, startSocksServer, type TestServer } from '../helpers/socks.ts';
import { socksUrl, startChained } from './helpers.ts';

const T = { timeout: 15_000 };

/** CONNECT to 127.0.0.1:port through `server`, one echo round trip; the reply code. */
async function connectThrough(server: TestServer, port: number): Promise<number> {
  const client = await server.client();
  await greet(client);
  const { reply } = await request5(client, { type: 'ipv4', host: '127.0.0.1', port });
  if (reply.reply === 0) {
    client.socket.end('x');
    assert.equal((await client.end()).toString(), 'x');
  }
  return reply.reply;
}

describe('routing', () => {
  let echo: EchoServer;
  let other: EchoServer;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    [echo, other, a, b] = await Promise.all([startEcho(), startEcho(), startSocksServer(), startSocksServer()]);
  });
  after(async () => {
    await Promise.all([echo.close(), other.close(), a.close(), b.close()]);
  });

  test('via=direct bypasses the default upstream; everything else goes through it', T, async () => {
    const server = await startChained([socksUrl(a)], {}, [`allow to=127.0.0.1 port=${echo.port} via=direct`]);
    const before = a.records.length;
    try {
      assert.equal(await connectThrough(server, echo.port), 0);
      assert.equal(await connectThrough(server, other.port), 0);
      const [direct, routed] = [await server.record(0), await server.record(1)];
      assert.equal(direct.upstream, undefined);
      assert.equal(direct.rule, `allow to=127.0.0.1 port=${echo.port} via=direct`);
      assert.equal(routed.upstream, 'default');
      assert.equal((await a.record(before)).target, `127.0.0.1:${other.port}`, 'only the second went through the upstream');
      assert.equal(a.records.length, before + 1);
    } finally {
      await server.close();
    }
  });

  test('via=NAME picks a named upstream; without a default, the rest goes direct', T, async () => {
    const server = await startChained([`corp=${socksUrl(a)}`, `lab=${socksUrl(b)}`], {}, [`allow port=${echo.port} via=corp`, `allow port=${other.port} via=lab`]);
    const [beforeA, beforeB] = [a.records.length, b.records.length];
    try {
      assert.equal(await connectThrough(server, echo.port), 0);
      assert.equal(await connectThrough(server, other.port), 0);
      assert.equal((await server.record(0)).upstream, 'corp');
      assert.equal((await server.record(1)).upstream, 'lab');
      assert.equal((await a.record(beforeA)).target, `127.0.0.1:${echo.port}`);
      assert.equal((await b.record(beforeB)).target, `127.0.0.1:${other.port}`);
      const closed = await startEcho();
      const port = closed.port;
      await closed.close();
      assert.equal(await connectThrough(server, port), 5, 'no rule: direct, and the closed port refuses');
      assert.equal((await server.record(2)).upstream, undefined);
    } finally {
      await server.close();
    }
  });

  test('via=default is the unnamed upstreams, not a direct connection', T, async () => {
    const server = await startChained([socksUrl(a), `lab=${socksUrl(b)}`], {}, [`allow port=${echo.port} via=default`, `allow to=127.0.0.1 via=direct`]);
    const before = a.records.length;
    try {
      assert.equal(await connectThrough(server, echo.port), 0);
      assert.equal((await server.record(0)).upstream, 'default');
      assert.equal((await a.record(before)).target, `127.0.0.1:${echo.port}`);
    } finally {
      await server.close();
    }
  });

  test('a chain of two: each hop reached through the one before, bytes exact, refusal of the last passed on', T, async () => {
    const server = await startChained([socksUrl(a, 'socks5'), socksUrl(b)]);
    const [beforeA, beforeB] = [a.records.length, b.records.length];
    try {
      assert.equal(await connectThrough(server, echo.port), 0);
      assert.equal((await a.record(beforeA)).target, `127.0.0.1:${b.port}`, 'the first hop connects to the second');
      assert.equal((await b.record(beforeB)).target, `127.0.0.1:${echo.port}`, 'the second to the target');
      const closed = await startEcho();
      const port = closed.port;
      await closed.close();
      const client = await server.client();
      await greet(client);
      assert.deepEqual((await request5(client, { type: 'ipv4', host: '127.0.0.1', port })).bytes, hex('05 05 00 01 00000000 0000'));
    } finally {
      await server.close();
    }
  });

  test("a chain whose first hop cannot reach the second: 0x01, our route is broken, not the target's 0x05", T, async () => {
    const gone = await startEcho();
    const port = gone.port;
    await gone.close();
    const server = await startChained([socksUrl(a), `socks5h://127.0.0.1:${port}`]);
    try {
      const client = await server.client();
      await greet(client);
      assert.deepEqual((await request5(client, { type: 'ipv4', host: '127.0.0.1', port: echo.port })).bytes, hex('05 01 00 01 00000000 0000'));
      const record = await server.record(0);
      assert.equal(record.outcome, 'upstream-unreachable');
      assert.equal(record.result, `general SOCKS server failure (via default: hop 1 (${socksUrl(a)}) refused: connection refused (SOCKS5 reply 0x05))`);
    } finally {
      await server.close();
    }
  });
});

describe('--upstream settings', () => {
  const fails = (texts: string[], rules: string[], message: RegExp) => assert.throws(() => parseUpstreams(texts, Policy.parse(rules)), (error: unknown) => error instanceof SocxError && error.code === 'usage' && message.test(error.message));

  test('unnamed URLs make the default chain in order; NAME=URL named ones', () => {
    const upstreams = parseUpstreams(['socks5://a:1', 'socks4a://b:2', 'corp=socks5h://u:p@c:3', 'corp=socks5h://d:4'], Policy.parse(['allow to=*.corp via=corp']));
    assert.deepEqual(upstreams?.default?.hops.map((hop) => `${hop.host}:${hop.port}`), ['a:1', 'b:2']);
    assert.deepEqual(upstreams?.named.get('corp')?.hops.map((hop) => `${hop.username ?? ''}@${hop.host}`), ['u@c', '@d']);
    assert.equal(parseUpstreams([], Policy.parse([])), undefined);
  });

  test('a via= with no such upstream, a reserved or bad name, a bad URL: usage errors without the password', () => {
    fails([], ['allow to=*.corp via=corp'], /^a rule routes via=corp, but no --upstream corp=URL is given$/);
    fails(['lab=socks5://a:1'], ['allow to=x via=default'], /^a rule routes via=default, but no unnamed --upstream URL is given$/);
    fails(['direct=socks5://a:1'], [], /"direct" is reserved/);
    fails(['default=socks5://a:1'], [], /"default" is reserved/);
    fails(['corp=ftp://user:hunter2@a:1'], [], /^--upstream: unsupported proxy scheme "ftp:" in ftp:\/\/user:\*\*\*@a:1/);
    fails(['socks5://user:hunter2@a:0'], [], /^--upstream: proxy port must be 1-65535: socks5:\/\/user:\*\*\*@a:0$/);
  });
});
