/** `socx probe` (the built dist/socx) against real HTTP proxies, tinyproxy (without and with BasicAuth) and
 * squid: each is reported as an HTTP proxy with what it does (CONNECT, forwarding, 407), exit 0; the -v trace
 * shows each HTTP message. */

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpServer, startSquid, startTinyproxy } from '../support/peers.ts';
import type { ProbeReport } from '../../lib/probe/report.ts';
import { Cleanup, describeRun, runSocx } from '../interop/socx.ts';
import { PROBE_ENV as ENV, probeJson } from './run-probe.ts';

const T = { timeout: 60_000 };

/** The fields every HTTP proxy report shares: the contract's SOCKS fields all no, BIND and UDP untested. */
function assertHttpProxy(json: ProbeReport, url: string): void {
  assert.equal(json.reachable, true);
  assert.equal(json.speaksSocks, false);
  assert.equal(json.kind, 'http-proxy');
  assert.equal(json.proxy, url);
  assert.deepEqual(json.versions, { socks4: false, socks4a: false, socks5: false });
  assert.deepEqual(json.methods, { none: false, gssapi: false, userpass: false });
  assert.equal(json.commands.bind, 'untested');
  assert.equal(json.commands.udp, 'untested');
  assert.equal(typeof json.latencyMs, 'number');
}

function assertWorks(json: ProbeReport): void {
  const http = json.http!;
  assert.equal(http.connect, 'ok', JSON.stringify(http.details.connect));
  assert.equal(http.forward, 'ok', JSON.stringify(http.details.forward));
  assert.equal(json.commands.connect, 'ok');
  assert.equal(http.details.connect.reply, '200 Connection established');
  assert.equal(typeof http.details.connect.roundTripMs, 'number');
  assert.equal(http.details.forward.reply, '200 OK');
}

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('socx probe against tinyproxy', () => {
  test('no auth: CONNECT and forwarding work, no authentication, exit 0', T, async () => {
    const proxy = cleanup.add(await startTinyproxy());
    const { json } = await probeJson([`${proxy.host}:${proxy.port}`]);
    assertHttpProxy(json, `socks5h://${proxy.host}:${proxy.port}`);
    assertWorks(json);
    assert.deepEqual(json.http!.auth, { required: false, schemes: [], credentials: 'not-required' });
    assert.equal(json.auth, 'not-required');
    assert.match(json.http!.server ?? '', /tinyproxy\/1\./);
    assert.equal(json.verdict, 'HTTP proxy (no authentication); CONNECT, forwarding work');
  });

  test('an http:// URL: probed as an HTTP proxy straight away, no SOCKS greeting sent', T, async () => {
    const proxy = cleanup.add(await startTinyproxy());
    const url = `http://${proxy.host}:${proxy.port}`;
    const { json } = await probeJson([url]);
    assertHttpProxy(json, url);
    assertWorks(json);
    assert.match(json.target ?? '', /^127\.0\.0\.1:\d+$/);
    const r = await runSocx(['probe', '-v', '--timeout', '1500', url], { env: ENV, timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun(r));
    const lines = r.stderr.toString().split('\n').filter(Boolean);
    assert.deepEqual(lines.map((line) => line.replace(/:\d+/g, ':PORT')).sort(), [
      'socx: [http-connect] < http 200 Connection established',
      'socx: [http-connect] > http CONNECT 127.0.0.1:PORT',
      'socx: [http-forward] < http 200 OK',
      'socx: [http-forward] > http GET http://127.0.0.1:PORT/',
    ]);
  });

  test('--target: CONNECT goes there and any byte back counts', T, async () => {
    const proxy = cleanup.add(await startTinyproxy());
    const service = cleanup.add(await startHttpServer(Buffer.from('hello')));
    const { json } = await probeJson(['--target', `${service.host}:${service.port}`, `http://${proxy.host}:${proxy.port}`]);
    assert.equal(json.http!.connect, 'ok', JSON.stringify(json.http!.details.connect));
    assert.equal(json.target, `${service.host}:${service.port}`);
    assert.equal(service.requests(), 1);
  });

  describe('with BasicAuth', () => {
    let url: string;
    test('no credentials given: 407 with Basic, auth not-tested, both refused with the 407, exit 0', T, async () => {
      const proxy = cleanup.add(await startTinyproxy({ user: 'alice', password: 's3cret' }));
      url = `${proxy.host}:${proxy.port}`;
      const { json } = await probeJson([url]);
      assertHttpProxy(json, `socks5h://${url}`);
      assert.deepEqual(json.http!.auth, { required: true, schemes: ['Basic'], credentials: 'not-tested' });
      assert.equal(json.auth, 'not-tested');
      assert.equal(json.reason, 'the proxy requires authentication (Basic): give credentials with -U user:pass or in the URL');
      assert.equal(json.http!.connect, 'refused');
      assert.equal(json.http!.forward, 'refused');
      assert.equal(json.http!.details.connect.reply, '407 Proxy Authentication Required');
      assert.equal(json.http!.details.forward.reply, '407 Proxy Authentication Required');
      assert.equal(json.verdict, 'HTTP proxy (Basic authentication required, not tested); CONNECT, forwarding refused');
    });

    test('the right credentials: auth ok, CONNECT and forwarding work with them', T, async () => {
      const { json } = await probeJson([url, '-U', 'alice:s3cret']);
      assertHttpProxy(json, `socks5h://${url}`);
      assertWorks(json);
      assert.deepEqual(json.http!.auth, { required: true, schemes: ['Basic'], credentials: 'ok' });
      assert.equal(json.auth, 'ok');
      assert.equal(json.reason, undefined);
      assert.equal(json.verdict, 'HTTP proxy (username/password accepted); CONNECT, forwarding work');
    });

    test('wrong credentials: auth failed (tinyproxy answers them with 401), still exit 0', T, async () => {
      const { json } = await probeJson([url, '-U', 'alice:wrong']);
      assertHttpProxy(json, `socks5h://${url}`);
      assert.equal(json.auth, 'failed');
      assert.deepEqual(json.http!.auth, { required: true, schemes: ['Basic'], credentials: 'failed' });
      assert.equal(json.reason, 'the proxy rejected the credentials for user "alice" (401 Unauthorized)');
      assert.equal(json.http!.connect, 'refused');
      assert.equal(json.http!.details.connect.reply, '401 Unauthorized');
      assert.equal(json.verdict, 'HTTP proxy (credentials rejected); CONNECT, forwarding refused');
    });

    test('ALL_PROXY holding an http URL is probed; --fail-on forward exits 1 when forwarding was refused', T, async () => {
      const r = await runSocx(['probe', '--json', '--timeout', '1500', '--fail-on', 'proxy,http,forward'], { env: { ...ENV, ALL_PROXY: `http://${url}` }, timeoutMs: 30_000 });
      assert.equal(r.code, 1, describeRun(r));
      assert.equal(r.stderr.toString(), 'socx: --fail-on: forward did not pass\n');
      const json = JSON.parse(r.stdout.toString()) as ProbeReport;
      assertHttpProxy(json, `http://${url}`);
      assert.equal(json.http!.forward, 'refused');
    });

    test('-v: one line per HTTP message, named by its step; the password never shown', T, async () => {
      const r = await runSocx(['probe', '-v', '--timeout', '1500', url, '-U', 'alice:s3cret'], { env: ENV, timeoutMs: 30_000 });
      assert.equal(r.code, 0, describeRun(r));
      const lines = r.stderr.toString().split('\n').filter(Boolean);
      const [host, port] = url.split(':');
      for (const expected of [
        'socx: [greeting-none] > socks5 greeting methods=none',
        'socx: [greeting-userpass] > socks5 greeting methods=userpass',
        'socx: [greeting-none] < silent: it accepted the connection but sent nothing within 1500 ms',
        'socx: [http] > http HEAD /',
        'socx: [http] < http 407 Proxy Authentication Required',
        'socx: [http-connect] < http 407 Proxy Authentication Required',
        'socx: [http-forward] < http 407 Proxy Authentication Required',
        'socx: [http-connect-login] < http 200 Connection established',
        'socx: [http-forward-login] < http 200 OK',
      ]) assert.ok(lines.includes(expected), `missing "${expected}" in:\n${lines.join('\n')}`);
      assert.ok(lines.some((line) => new RegExp(`^socx: \\[http-connect-login\\] > http CONNECT ${host}:\\d+ auth=basic user=alice$`).test(line)), lines.join('\n'));
      assert.ok(lines.some((line) => /^socx: \[http-forward\] > http GET http:\/\/127\.0\.0\.1:\d+\/$/.test(line)), lines.join('\n'));
      assert.ok(!r.stderr.toString().includes('s3cret'));
      assert.equal(lines.length, 18, lines.join('\n'));
      assert.ok(port);
    });
  });
});

describe('socx probe against squid', () => {
  test('CONNECT (to any port, as configured) and forwarding work, no authentication, exit 0', T, async () => {
    const proxy = cleanup.add(await startSquid({ forward: true }));
    const { json } = await probeJson([`${proxy.host}:${proxy.port}`]);
    assertHttpProxy(json, `socks5h://${proxy.host}:${proxy.port}`);
    assertWorks(json);
    assert.equal(json.auth, 'not-required');
    assert.match(json.http!.server ?? '', /squid\/\d/);
  });
});

describe('an HTTP server that is not a proxy', () => {
  test('kind http, not a proxy: what CONNECT and a proxy request got, exit 1', T, async () => {
    const server = cleanup.add(await startHttpServer(Buffer.from('hello')));
    const { json } = await probeJson([`${server.host}:${server.port}`], 1);
    assert.equal(json.kind, 'http');
    assert.equal(json.http!.forward, 'refused');
    assert.equal(json.http!.details.forward.reason, "200 OK, but not with the probe's page: it answers with pages of its own");
    assert.notEqual(json.http!.connect, 'ok');
    assert.match(json.verdict, /^not a SOCKS proxy: an HTTP server, not a proxy: CONNECT got .*, a proxy request \(GET http:\/\/…\) got 200 OK, but not with the probe's page/);
  });
});
