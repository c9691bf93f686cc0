/** `socx probe --json` (the built dist/socx) against socx serve in its configurations, microsocks, Dante, an
 * HTTP server, a closed port, a silent port, a port that closes at once and a fake proxy that says yes to
 * everything: each JSON asserted field by field, with the exit code. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDante, startHttpServer, startMicrosocks, startSshd } from '../support/peers.ts';
import { closedPort } from '../helpers/net.ts';
import { Cleanup, describeRun, runSocx, startSocxServe, type SocxServer } from '../interop/socx.ts';
import type { ProbeReport } from '../../lib/probe/report.ts';
import { PROBE_ENV as ENV, probeJson } from './run-probe.ts';
import { startClosingAtOnce, startEcho, startPatientHttp, startResettingAtOnce, startSilent, startSplitEcho, startYesMan } from './fakes.ts';

const T = { timeout: 60_000 };

function assertGreeting(json: ProbeReport): void {
  assert.equal(typeof json.latencyMs, 'number');
  assert.ok(json.latencyMs! >= 0 && json.latencyMs! < 1500, `latencyMs ${json.latencyMs}`);
}

function assertCommandOk(json: ProbeReport, name: 'connect' | 'bind' | 'udp'): void {
  assert.equal(json.commands[name], 'ok', JSON.stringify(json.details[name]));
  assert.equal(json.details[name]?.status, 'ok');
  assert.equal(typeof json.details[name]?.latencyMs, 'number');
  assert.equal(typeof json.details[name]?.roundTripMs, 'number');
}

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('socx probe against socx serve', () => {
  let open: SocxServer;
  let authed: SocxServer;
  let restricted: SocxServer;
  before(async () => {
    open = cleanup.add(await startSocxServe());
    authed = cleanup.add(await startSocxServe(['--auth', 'alice:s3cret']));
    restricted = cleanup.add(await startSocxServe(['--no-bind', '--no-udp', '--no-socks4']));
  });

  test('without auth: every version, no-auth only, CONNECT/BIND/UDP end to end, every address type, no findings', T, async () => {
    const { json } = await probeJson([`socks5h://${open.authority}`]);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, true);
    assert.equal(json.kind, 'socks');
    assert.equal(json.proxy, `socks5h://${open.authority}`);
    assert.deepEqual(json.versions, { socks5: true, socks4: true, socks4a: true });
    assert.deepEqual(json.methods, { none: true, gssapi: false, userpass: false });
    assert.equal(json.auth, 'not-required');
    assert.deepEqual(json.commands, { connect: 'ok', bind: 'ok', udp: 'ok' });
    for (const name of ['connect', 'bind', 'udp'] as const) assertCommandOk(json, name);
    assert.deepEqual(json.addressTypes, { ipv4: 'ok', ipv6: 'ok', domain: 'ok' });
    assertGreeting(json);
    assert.match(json.target ?? '', /^127\.0\.0\.1:\d+$/);
    assert.match(json.details.bind?.bound ?? '', /^127\.0\.0\.1:\d+$/);
    assert.match(json.details.udp?.bound ?? '', /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(json.findings, []);
    assert.equal(json.verdict, 'SOCKS5, SOCKS4, SOCKS4a (no authentication); CONNECT, BIND, UDP work; also an HTTP proxy: CONNECT, forwarding work');
  });

  test('the URL may come from -x or SOCX_PROXY instead of the argument', T, async () => {
    const viaFlag = await probeJson(['-x', open.authority]);
    assert.equal(viaFlag.json.proxy, `socks5h://${open.authority}`);
    const r = await runSocx(['probe', '--json'], { env: { ...ENV, SOCX_PROXY: `socks5://${open.authority}` } });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal((JSON.parse(r.stdout.toString()) as ProbeReport).proxy, `socks5://${open.authority}`);
  });

  test('--auth, no credentials given: userpass only, auth not-tested, SOCKS4 spoken but refused, commands untested with the reason', T, async () => {
    const { json } = await probeJson([authed.authority]);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, true);
    // It answers SOCKS4 in SOCKS4 (a refusal): spoken, no data.
    assert.deepEqual(json.versions, { socks5: true, socks4: true, socks4a: false });
    assert.deepEqual(json.dataFlow, { socks5: 'untested', socks4: 'refused', socks4a: 'refused' });
    assert.equal(json.details.socks4?.reply, 'request rejected or failed (SOCKS4 reply 0x5b)');
    assert.deepEqual(json.methods, { none: false, gssapi: false, userpass: true });
    assert.equal(json.auth, 'not-tested');
    assert.match(json.reason ?? '', /requires a username and password.*-U/);
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
    assert.match(json.details.connect?.reason ?? '', /-U user:pass/);
    assert.deepEqual(json.addressTypes, { ipv4: 'untested', ipv6: 'untested', domain: 'untested' });
    assertGreeting(json);
    assert.deepEqual(json.findings, []);
  });

  test('--auth, the right credentials (with -U): auth ok, every command works', T, async () => {
    const { json } = await probeJson([authed.authority, '-U', 'alice:s3cret']);
    assert.equal(json.auth, 'ok');
    assert.deepEqual(json.methods, { none: false, gssapi: false, userpass: true });
    assert.deepEqual(json.versions, { socks5: true, socks4: true, socks4a: false });
    assert.deepEqual(json.dataFlow, { socks5: 'ok', socks4: 'refused', socks4a: 'refused' });
    assert.deepEqual(json.commands, { connect: 'ok', bind: 'ok', udp: 'ok' });
    for (const name of ['connect', 'bind', 'udp'] as const) assertCommandOk(json, name);
    assert.deepEqual(json.addressTypes, { ipv4: 'ok', ipv6: 'ok', domain: 'ok' });
    assert.equal(json.proxy, `socks5h://${authed.authority}`, 'no credentials in the JSON');
    assert.deepEqual(json.findings, []);
  });

  test('--auth, wrong credentials in the URL: auth failed, commands untested, still exit 0 (it speaks SOCKS)', T, async () => {
    const { json } = await probeJson([`socks5h://alice:wrong@${authed.authority}`]);
    assert.equal(json.auth, 'failed');
    assert.match(json.reason ?? '', /rejected the username\/password for user "alice"/);
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
    assert.equal(json.speaksSocks, true);
    assert.doesNotMatch(JSON.stringify(json), /wrong/);
  });

  test('--no-bind --no-udp --no-socks4: BIND and UDP refused with the reply name, SOCKS4 refused in SOCKS4, CONNECT ok', T, async () => {
    const { json } = await probeJson([restricted.authority]);
    // One rule for every version: it answers SOCKS4 (with a refusal), so it speaks it; no data flows.
    assert.deepEqual(json.versions, { socks5: true, socks4: true, socks4a: false });
    assert.deepEqual(json.dataFlow, { socks5: 'ok', socks4: 'refused', socks4a: 'refused' });
    assert.equal(json.details.socks4?.reply, 'request rejected or failed (SOCKS4 reply 0x5b)');
    assert.deepEqual(json.methods, { none: true, gssapi: false, userpass: false });
    assert.equal(json.auth, 'not-required');
    assert.deepEqual(json.commands, { connect: 'ok', bind: 'refused', udp: 'refused' });
    for (const name of ['bind', 'udp'] as const) {
      assert.equal(json.details[name]?.reason, 'command not supported');
      assert.equal(json.details[name]?.reply, 'command not supported (SOCKS5 reply 0x07)');
    }
    assert.deepEqual(json.findings, []);
    assert.equal(json.verdict, 'SOCKS5, SOCKS4 (no authentication); CONNECT works; BIND, UDP refused; also an HTTP proxy: CONNECT, forwarding work');
  });
});

describe('socx probe against third-party servers', () => {
  test('microsocks: SOCKS5 only, CONNECT only', T, async () => {
    const micro = cleanup.add(await startMicrosocks());
    const { json } = await probeJson([`${micro.host}:${micro.port}`]);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, true);
    assert.deepEqual(json.versions, { socks5: true, socks4: false, socks4a: false });
    assert.match(json.details.socks4?.reason ?? '', /in SOCKS5 \(05 ff\): no SOCKS4/);
    assert.deepEqual(json.methods, { none: true, gssapi: false, userpass: false });
    assert.equal(json.auth, 'not-required');
    assert.deepEqual(json.commands, { connect: 'ok', bind: 'refused', udp: 'refused' });
    assertCommandOk(json, 'connect');
    assert.equal(json.details.bind?.reply, 'command not supported (SOCKS5 reply 0x07)');
    assert.equal(json.details.udp?.reply, 'command not supported (SOCKS5 reply 0x07)');
    assert.deepEqual(json.addressTypes, { ipv4: 'ok', ipv6: 'ok', domain: 'ok' });
    assertGreeting(json);
    assert.deepEqual(json.findings, []);
  });

  test('Dante with BIND and UDP: SOCKS4 and 5 but not 4a, all three commands, no IPv6 targets', T, async () => {
    const dante = cleanup.add(await startDante({ bind: true, udp: true }));
    const { json } = await probeJson([`${dante.host}:${dante.port}`]);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, true);
    assert.deepEqual(json.versions, { socks5: true, socks4: true, socks4a: false });
    assert.equal(json.details.socks4a?.reply, 'request rejected or failed (SOCKS4 reply 0x5b)');
    assert.deepEqual(json.methods, { none: true, gssapi: false, userpass: false });
    assert.equal(json.auth, 'not-required');
    assert.deepEqual(json.commands, { connect: 'ok', bind: 'ok', udp: 'ok' });
    for (const name of ['connect', 'bind', 'udp'] as const) assertCommandOk(json, name);
    assert.equal(json.addressTypes.ipv4, 'ok');
    assert.equal(json.addressTypes.domain, 'ok');
    // Dante's external address is 127.0.0.1: it cannot reach an IPv6 target.
    assert.equal(json.addressTypes.ipv6, 'refused');
    assertGreeting(json);
    assert.deepEqual(json.findings, []);
  });
});

describe('socx probe against endpoints that are not SOCKS proxies', () => {
  test('an HTTP server: reachable, not SOCKS, kind http, exit 1 with the JSON printed', T, async () => {
    const http = cleanup.add(await startHttpServer(Buffer.from('hello')));
    const { json } = await probeJson([`${http.host}:${http.port}`], 1);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'http');
    assert.deepEqual(json.versions, { socks5: false, socks4: false, socks4a: false });
    assert.deepEqual(json.methods, { none: false, gssapi: false, userpass: false });
    assert.equal(json.auth, 'not-tested');
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
    assert.equal(json.latencyMs, null);
    assert.match(json.verdict, /^not a SOCKS proxy: .*HTTP server/);
  });

  test('an HTTP server silent to the SOCKS greeting (it waits for a request line; says 200 to anything): still kind http, not a proxy', T, async () => {
    const http = cleanup.add(await startPatientHttp());
    const { json } = await probeJson([`127.0.0.1:${http.port}`], 1);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'http');
    assert.equal(json.reason, "an HTTP server, not a proxy: CONNECT got 200 OK, but the tunnel closed before any data came back, a proxy request (GET http://…) got 200 OK, but not with the probe's page: it answers with pages of its own");
    assert.deepEqual(json.versions, { socks5: false, socks4: false, socks4a: false });
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
  });

  test('an SSH server: its banner shown as text, exit 1', T, async () => {
    const sshd = cleanup.add(await startSshd());
    const { json } = await probeJson([`${sshd.host}:${sshd.port}`], 1);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'other');
    assert.match(json.reason ?? '', /^it answered the SOCKS5 greeting with "SSH-2\.0-OpenSSH_[^"\\]*\\x0d\\x0a"/);
  });

  test('a closed port: reachable false, kind refused, exit 1 with the JSON printed', T, async () => {
    const port = await closedPort();
    const { json } = await probeJson([`127.0.0.1:${port}`], 1);
    assert.equal(json.reachable, false);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'refused');
    assert.deepEqual(json.versions, { socks5: false, socks4: false, socks4a: false });
    assert.deepEqual(json.methods, { none: false, gssapi: false, userpass: false });
    assert.equal(json.auth, 'not-tested');
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
    assert.equal(json.latencyMs, null);
    assert.match(json.verdict, /^unreachable: nothing listens on 127\.0\.0\.1:\d+ \(connection refused\)$/);
  });

  test('a port that accepts and never answers: kind silent, within the --timeout bound', T, async () => {
    const silent = cleanup.add(await startSilent());
    const { json, ms } = await probeJson([`127.0.0.1:${silent.port}`], 1);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'silent');
    assert.match(json.reason ?? '', /sent nothing within 1500 ms/);
    assert.deepEqual(json.versions, { socks5: false, socks4: false, socks4a: false });
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
    assert.ok(ms < 1500 * 3 + 2000, `took ${ms} ms`);
  });

  test('a port that closes at once: kind closed-at-once', T, async () => {
    const closing = cleanup.add(await startClosingAtOnce());
    const { json } = await probeJson([`127.0.0.1:${closing.port}`], 1);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'closed-at-once');
    // A close with the greeting unread may go out as a reset: either way, nothing tells what listens.
    assert.match(json.verdict, /^no answer to tell what it speaks: (it closed the connection without answering|connection reset by the server right after accepting)/);
    assert.deepEqual(json.versions, { socks5: false, socks4: false, socks4a: false });
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
  });

  test('a port that resets every connection as it accepts it (a per-address limit): reachable, kind closed-at-once, the reset in words', T, async () => {
    const resetting = cleanup.add(await startResettingAtOnce());
    const reason = 'connection reset by the server right after accepting, before any answer (as a limit on connections per client address does)';
    const { json } = await probeJson([`127.0.0.1:${resetting.port}`], 1);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'closed-at-once');
    assert.equal(json.reason, reason);
    assert.deepEqual(json.versions, { socks5: false, socks4: false, socks4a: false });
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
    assert.equal(json.verdict, `no answer to tell what it speaks: ${reason}`);
    const table = await runSocx(['probe', '--wide', `127.0.0.1:${resetting.port}`], { env: ENV });
    assert.equal(table.code, 1, describeRun(table));
    const out = table.stdout.toString();
    assert.match(out, new RegExp(`\\n│ Reachable +│ yes +│ socks5h://127\\.0\\.0\\.1:${resetting.port} +│\\n`));
    assert.ok(out.includes(`\n│ Speaks SOCKS │ unknown │ closed-at-once: ${reason} │\n`), out);
    assert.ok(out.endsWith(`\nno answer to tell what it speaks: ${reason}\n`), out);
    assert.doesNotMatch(out, /ECONNRESET|unreachable/);
  });

  test('a TCP echo server: not SOCKS, though its echoes of the greeting and the SOCKS4 request look like answers; exit 1', T, async () => {
    const echo = cleanup.add(await startEcho());
    const { json } = await probeJson([`socks5h://127.0.0.1:${echo.port}`], 1);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'other');
    assert.equal(json.reason, 'the SOCKS5 greeting came back unchanged, as from an echo service');
    assert.deepEqual(json.versions, { socks5: false, socks4: false, socks4a: false });
    assert.deepEqual(json.methods, { none: false, gssapi: false, userpass: false });
    assert.equal(json.auth, 'not-tested');
    assert.deepEqual(json.commands, { connect: 'untested', bind: 'untested', udp: 'untested' });
    assert.equal(json.latencyMs, null);
    assert.deepEqual(json.details.socks4, { status: 'refused', reason: `socks4://127.0.0.1:${echo.port} does not speak SOCKS4 as expected: the SOCKS4 request came back unchanged, as from an echo service` });
    assert.deepEqual(json.findings, []);
    assert.equal(json.verdict, 'not a SOCKS proxy: the SOCKS5 greeting came back unchanged, as from an echo service');
    const table = await runSocx(['probe', '--wide', `socks5h://127.0.0.1:${echo.port}`], { env: ENV });
    assert.equal(table.code, 1, describeRun(table));
    assert.equal(table.stderr, '');
    assert.match(table.stdout.toString(), /\n│ Speaks SOCKS +│ no +│ other: the SOCKS5 greeting came back unchanged, as from an echo service +│\n└/);
    assert.match(table.stdout.toString(), /\nnot a SOCKS proxy: the SOCKS5 greeting came back unchanged, as from an echo service\n$/);
  });

  test('a TCP echo whose echo arrives split after two bytes is still an echo, not SOCKS5 with GSSAPI', T, async () => {
    const echo = cleanup.add(await startSplitEcho());
    const { json } = await probeJson([`socks5h://127.0.0.1:${echo.port}`], 1);
    assert.equal(json.speaksSocks, false);
    assert.equal(json.kind, 'other');
    assert.equal(json.reason, 'the SOCKS5 greeting came back unchanged, as from an echo service');
    assert.deepEqual(json.versions, { socks5: false, socks4: false, socks4a: false });
  });

  test('a fake that says yes to everything and connects nowhere: the data round trip catches it', T, async () => {
    const fake = cleanup.add(await startYesMan());
    const { json } = await probeJson([`127.0.0.1:${fake.port}`]);
    assert.equal(json.reachable, true);
    assert.equal(json.speaksSocks, true);
    assert.deepEqual(json.versions, { socks5: true, socks4: false, socks4a: false });
    // It answers 05 00 to a greeting offering only GSSAPI (or only username/password).
    assert.deepEqual(json.methods, { none: true, gssapi: false, userpass: false });
    assert.equal(json.auth, 'not-required');
    assert.equal(json.commands.connect, 'refused');
    assert.match(json.details.connect?.reason ?? '', /^no data came back: the proxy answered success without connecting to 127\.0\.0\.1:\d+/);
    assert.equal(json.commands.bind, 'refused');
    assert.match(json.details.bind?.reason ?? '', /cannot connect to the announced address/);
    assert.equal(json.commands.udp, 'refused');
    assert.ok(json.findings.some((f) => /^CONNECT: success replied without connecting/.test(f)), json.findings.join('\n'));
    assert.ok(json.findings.some((f) => /^success replied before connecting: CONNECT to 127\.0\.0\.1:\d+, where nothing listens/.test(f)), json.findings.join('\n'));
    assert.ok(json.findings.some((f) => /^BIND reply names 0\.0\.0\.0/.test(f)), json.findings.join('\n'));
    assert.ok(json.findings.some((f) => /offering only GSSAPI was answered with no authentication, which was not offered/.test(f)), json.findings.join('\n'));
  });
});

describe('socx probe: table and usage', () => {
  test('the default output fits 80 columns when stdout is not a terminal; --fail-on exits 1 naming the failed check', T, async () => {
    const served = cleanup.add(await startSocxServe(['--no-udp']));
    const r = await runSocx(['probe', served.authority, '--fail-on', 'connect,udp'], { env: ENV });
    assert.equal(r.code, 1, describeRun(r));
    assert.equal(r.stderr, 'socx: --fail-on: udp did not pass\n');
    const lines = r.stdout.toString().trimEnd().split('\n');
    for (const line of lines) assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
    assert.ok(lines.some((line) => line.length === 80), 'the table spans the 80 columns');
    const ok = await runSocx(['probe', served.authority, '--fail-on', 'connect', '--fail-on', 'bind,socks4a'], { env: ENV });
    assert.equal(ok.code, 0, describeRun(ok));
  });

  test('--fail-on http: passes against socx serve (SOCKS and an HTTP proxy on one port), fails with --no-http', T, async () => {
    const served = cleanup.add(await startSocxServe());
    const ok = await runSocx(['probe', served.authority, '--wide', '--fail-on', 'http'], { env: ENV });
    assert.equal(ok.code, 0, describeRun(ok));
    assert.equal(ok.stderr, '');
    assert.match(ok.stdout.toString(), /\n│ HTTP proxy +│ yes +│/);
    const socksOnly = cleanup.add(await startSocxServe(['--no-http']));
    const failed = await runSocx(['probe', socksOnly.authority, '--fail-on', 'http'], { env: ENV });
    assert.equal(failed.code, 1, describeRun(failed));
    assert.equal(failed.stderr, 'socx: --fail-on: http did not pass\n');
    assert.doesNotMatch(failed.stdout.toString(), /HTTP proxy/);
  });

  test('repeated hints collapse into one note under the table', T, async () => {
    const authed = cleanup.add(await startSocxServe(['--auth', 'alice:s3cret']));
    const r = await runSocx(['probe', authed.authority, '--wide'], { env: ENV });
    assert.equal(r.code, 0, describeRun(r));
    const out = r.stdout.toString();
    assert.match(out, /│ Auth +│ not-tested +│ see note 1 +│/);
    for (const row of ['CONNECT', 'BIND', 'UDP ASSOCIATE', 'Address IPv4', 'Address IPv6', 'Address domain']) assert.match(out, new RegExp(`│ ${row} +│ untested +│ see note 1 +│`));
    assert.match(out, /\nNote 1: the proxy requires a username and password: give them with -U user:pass or in the URL\n/);
    assert.equal(out.split('-U user:pass').length, 2, 'the hint once, in the note');
  });

  test('--wide: the table as wide as its cells, a verdict line on stdout, nothing on stderr, no ANSI', T, async () => {
    const served = cleanup.add(await startSocxServe(['--no-udp']));
    const r = await runSocx(['probe', served.authority, '--wide'], { env: ENV });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stderr, '');
    const out = r.stdout.toString();
    assert.doesNotMatch(out, /\x1b\[/);
    for (const row of [/│ Reachable +│ yes /, /│ SOCKS4a +│ yes /, /│ CONNECT +│ ok +│ to 127\.0\.0\.1:\d+, reply [\d.]+ ms, data [\d.]+ ms/, /│ UDP ASSOCIATE +│ refused +│ command not supported \(SOCKS5 reply 0x07\)/]) {
      assert.match(out, row);
    }
    // socx serve is an HTTP proxy on the same port too, and says so.
    assert.match(out, /\nSOCKS5, SOCKS4, SOCKS4a \(no authentication\); CONNECT, BIND work; UDP refused; also an HTTP proxy: CONNECT, forwarding work\n$/);
  });

  test('a closed port without --json: the table says why, exit 1', T, async () => {
    const port = await closedPort();
    const r = await runSocx(['probe', `127.0.0.1:${port}`], { env: ENV });
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stdout.toString(), /unreachable: nothing listens on 127\.0\.0\.1:\d+ \(connection refused\)\n$/);
  });

  test('--help lists the proxy variables in the order probe reads them', T, async () => {
    const help = await runSocx(['probe', '--help'], { env: ENV });
    const listed = /else the first of ((?:\$\w+(?:, )?)+), then socks5h:\/\/127\.0\.0\.1:1080/.exec(help.stdout.toString())?.[1]?.split(', ').map((name) => name.slice(1));
    assert.deepEqual(listed, ['SOCX_PROXY', 'ALL_PROXY', 'all_proxy', 'HTTPS_PROXY', 'https_proxy']);
    // Each variable set, each to its own loopback address (nothing listens there): probe takes the first listed,
    // and the next once that one is unset.
    const port = await closedPort();
    const proxyFor = (position: number): string => `socks5h://127.0.0.${position + 1}:${port}`;
    for (const [index, variable] of listed.entries()) {
      const env = Object.fromEntries(listed.map((name, position) => [name, position >= index ? proxyFor(position) : '']));
      const r = await runSocx(['probe', '--json'], { env: { ...ENV, ...env } });
      assert.equal(r.code, 1, describeRun(r));
      assert.equal((JSON.parse(r.stdout.toString()) as ProbeReport).proxy, proxyFor(index), variable);
    }
  });

  test('usage errors exit 2 with one line', T, async () => {
    for (const args of [['probe', '--target', 'nope'], ['probe', 'a:1', '-x', 'b:2'], ['probe', '--timeout', 'x'], ['probe', 'ftp://x'], ['probe', '--fail-on', 'connect,nope'], ['probe', '--conformance', '--handshake-deadline', 'soon']]) {
      const r = await runSocx(args, { env: ENV });
      assert.equal(r.code, 2, describeRun(r));
      assert.equal(r.stdout.length, 0);
      assert.match(r.stderr, /^socx: .+\n$/);
    }
  });
});
