/** `socx probe` (the built dist/socx) through a chain of socx serve instances: the last hop's features are
 * reported, every connection goes through the first hop, a dead hop is named; and the -v trace of the SOCKS
 * messages. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closedPort } from '../helpers/net.ts';
import { startTinyproxy, type Peer } from '../support/peers.ts';
import { Cleanup, describeRun, runSocx, startSocxServe, waitForOutput, type SocxServer } from '../interop/socx.ts';
import { PROBE_ENV as ENV, probeJson } from './run-probe.ts';

const T = { timeout: 60_000 };

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('socx probe -x A -x B: B probed through A', () => {
  let first: SocxServer;
  let last: SocxServer;
  before(async () => {
    first = cleanup.add(await startSocxServe());
    // Unlike the first hop, the last wants a login: what is reported must be its.
    last = cleanup.add(await startSocxServe(['--auth', 'alice:s3cret']));
  });

  test("the last hop's versions, methods and auth; CONNECT and BIND work; UDP untested (it would bypass A)", T, async () => {
    const { json } = await probeJson(['-x', `socks5h://${first.authority}`, '-x', `socks5h://alice:s3cret@${last.authority}`]);
    assert.equal(json.reachable, true);
    assert.equal(json.kind, 'socks');
    assert.equal(json.proxy, `socks5h://${last.authority}`);
    assert.deepEqual(json.via, [`socks5h://${first.authority}`]);
    // SOCKS4 is spoken (a refusal, since logins are required); SOCKS4a, which needs a grant, is not.
    assert.deepEqual(json.versions, { socks5: true, socks4: true, socks4a: false });
    assert.deepEqual(json.methods, { none: false, gssapi: false, userpass: true });
    assert.equal(json.auth, 'ok');
    assert.deepEqual(json.commands, { connect: 'ok', bind: 'ok', udp: 'untested' });
    assert.equal(json.details.udp?.reason, 'not through a chain: the datagrams would bypass the hops before the last');
    assert.equal(json.verdict, 'SOCKS5, SOCKS4 (username/password accepted); CONNECT, BIND work; UDP untested; also an HTTP proxy: CONNECT, forwarding work');
    // Every connection to the last hop went through the first.
    await waitForOutput(first, new RegExp(`connect 127\\.0\\.0\\.1:${last.port} ok`));
  });

  test('a last hop where nothing listens: unreachable, hop 1 named with its reply, exit 1', T, async () => {
    const port = await closedPort();
    const { json } = await probeJson(['-x', first.authority, '-x', `127.0.0.1:${port}`], 1);
    assert.equal(json.reachable, false);
    assert.equal(json.reason, `127.0.0.1:${port} is not reachable through the chain: hop 1 (socks5h://${first.authority}) refused: connection refused (SOCKS5 reply 0x05)`);
  });

  test('a first hop where nothing listens: "cannot connect to hop 1", exit 1', T, async () => {
    const port = await closedPort();
    const { json } = await probeJson(['-x', `127.0.0.1:${port}`, '-x', last.authority], 1);
    assert.equal(json.reason, `${last.authority} is not reachable through the chain: cannot connect to hop 1 (socks5h://127.0.0.1:${port}): connection refused (ECONNREFUSED)`);
  });

  test('three hops: the middle one is named when it cannot reach the last', T, async () => {
    const port = await closedPort();
    const { json } = await probeJson(['-x', first.authority, '-x', first.authority, '-x', `127.0.0.1:${port}`], 1);
    assert.equal(json.reason, `127.0.0.1:${port} is not reachable through the chain: hop 2 (socks5h://${first.authority}) refused: connection refused (SOCKS5 reply 0x05)`);
  });

  test('usage errors: -U with a chain, --conformance through a chain (exit 2, one line)', T, async () => {
    for (const [args, message] of [
      [['-U', 'a:b'], "socx: with a chain (-x repeated), -U would not say which hop it is for: put each hop's credentials in its URL\n"],
      [['--conformance'], 'socx: --conformance checks one server directly: give a single proxy, not a chain\n'],
    ] as const) {
      const r = await runSocx(['probe', '-x', first.authority, '-x', last.authority, ...args], { env: ENV });
      assert.equal(r.code, 2, describeRun(r));
      assert.equal(r.stderr.toString(), message);
    }
  });
});

describe('socx probe through chains with an HTTP hop (tinyproxy)', () => {
  let socks: SocxServer;
  let http: Peer;
  before(async () => {
    socks = cleanup.add(await startSocxServe());
    http = cleanup.add(await startTinyproxy());
  });

  test('-x http://tinyproxy -x socks5h://socx: socx probed through tinyproxy', T, async () => {
    const { json } = await probeJson(['-x', `http://${http.host}:${http.port}`, '-x', socks.authority]);
    assert.equal(json.kind, 'socks');
    assert.deepEqual(json.via, [`http://${http.host}:${http.port}`]);
    assert.deepEqual(json.commands, { connect: 'ok', bind: 'ok', udp: 'untested' });
  });

  test('-x socks5h://socx -x http://tinyproxy: tinyproxy probed as an HTTP proxy through socx', T, async () => {
    const { json } = await probeJson(['-x', socks.authority, '-x', `http://${http.host}:${http.port}`]);
    assert.equal(json.kind, 'http-proxy');
    assert.equal(json.proxy, `http://${http.host}:${http.port}`);
    assert.deepEqual(json.via, [`socks5h://${socks.authority}`]);
    assert.equal(json.http?.connect, 'ok', JSON.stringify(json.http?.details.connect));
    assert.equal(json.http?.forward, 'ok', JSON.stringify(json.http?.details.forward));
    await waitForOutput(socks, new RegExp(`connect 127\\.0\\.0\\.1:${http.port} ok`));
  });
});

describe('socx probe -v', () => {
  let server: SocxServer;
  before(async () => {
    server = cleanup.add(await startSocxServe());
  });

  test('each SOCKS message sent and received, one decoded line each, named by its step', T, async () => {
    const r = await runSocx(['probe', '-v', '--timeout', '1500', server.authority], { env: ENV, timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun(r));
    const lines = r.stderr.toString().split('\n');
    for (const expected of [
      'socx: [greeting-none] > socks5 greeting methods=none',
      'socx: [greeting-none] < socks5 method none',
      'socx: [greeting-gssapi] > socks5 greeting methods=gssapi',
      'socx: [greeting-gssapi] < socks5 method none-acceptable',
      'socx: [greeting-userpass] < socks5 method none-acceptable',
      'socx: [connect] > socks5 greeting methods=none',
      'socx: [connect] < socks5 method none',
    ]) assert.ok(lines.includes(expected), `missing "${expected}" in:\n${lines.join('\n')}`);
    for (const pattern of [
      /^socx: \[connect\] > socks5 connect 127\.0\.0\.1:\d+$/,
      /^socx: \[connect\] < socks5 reply succeeded bnd=127\.0\.0\.1:\d+$/,
      /^socx: \[socks4\] > socks4 connect 127\.0\.0\.1:\d+$/,
      /^socx: \[socks4\] < socks4 reply request granted bnd=127\.0\.0\.1:\d+$/,
      /^socx: \[domain\] > socks5 connect localhost:\d+$/,
      /^socx: \[bind\] > socks5 bind 127\.0\.0\.1:0$/,
      /^socx: \[udp\] > socks5 udp-associate 0\.0\.0\.0:0$/,
    ]) assert.ok(lines.some((line) => pattern.test(line)), `no line like ${pattern} in:\n${lines.join('\n')}`);
    // Every line is a trace line: no stray output.
    for (const line of lines.filter(Boolean)) assert.match(line, /^socx: \[[a-z0-9-]+\] [<>*] /);
  });
});
