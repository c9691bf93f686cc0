/** lib/probe in-process: the first-answer decoder at every split point, the verdict and table, the open-proxy
 * rule, and probe() against the in-process SocksServer (IPv4 and IPv6 loopback) and a server that cuts its
 * error replies short. */

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { decodeFirstAnswer, errorText } from '../../lib/probe/detect.ts';
import { openProxyFinding, probe } from '../../lib/probe/probe.ts';
import { probeGrid, verdictFor, type ProbeReport } from '../../lib/probe/report.ts';
import { hex } from '../helpers/net.ts';
import { startSocksServer } from '../helpers/socks.ts';
import { Method, Reply } from '../../lib/codec/constants.ts';
import { encodeSocks4Reply } from '../../lib/codec/socks4.ts';
import { escapeText, showBytes } from '../../lib/probe/bytes.ts';
import { failedChecks } from '../../lib/probe/report.ts';
import { startHttpResponder, startScripted, startShortReplier, socks5Refusal } from './fakes.ts';

const T = { timeout: 30_000 };

describe('decodeFirstAnswer', () => {
  const vectors: Array<[string, Buffer, unknown]> = [
    ['method selection 05 00', hex('0500'), { type: 'selection', method: 0 }],
    ['no acceptable methods 05 ff', hex('05ff'), { type: 'selection', method: 0xff }],
    ['an HTTP status line', Buffer.from('HTTP/1.1 400 Bad Request\r\n'), { type: 'http' }],
    ['a SOCKS4 reply', hex('005b000000000000'), { type: 'other', bytes: '00 5b 00 00 00 00 00 00' }],
  ];
  for (const [name, bytes, expected] of vectors) {
    test(`${name}: the same whole and at every split point`, () => {
      const whole = decodeFirstAnswer(bytes);
      assert.equal(whole.done, true);
      if (whole.done) assert.deepEqual(whole.value, expected);
      for (let cut = 0; cut < Math.min(bytes.length, 5); cut++) {
        const part = decodeFirstAnswer(bytes.subarray(0, cut));
        // Running short is "need more" until the message can be told; a non-SOCKS, non-HTTP byte is told at once.
        if (part.done) assert.deepEqual(part.value, (expected as { type: string }).type === 'other' ? part.value : expected);
        else assert.ok(part.need > 0);
      }
    });
  }
  test('"HTTX" is not HTTP', () => {
    const r = decodeFirstAnswer(Buffer.from('HTTX/'));
    assert.equal(r.done && r.value.type, 'other');
  });
});

describe('bytes from a peer', () => {
  test('a banner is its first line as quoted text, control characters escaped; anything else is hex', () => {
    assert.equal(showBytes(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')), '"SSH-2.0-OpenSSH_9.2\\x0d\\x0a"');
    assert.equal(showBytes(Buffer.from('SSH-2.0-X\r\n\x05\xff', 'latin1')), '"SSH-2.0-X\\x0d\\x0a" and 2 more bytes');
    // A control character inside the line is escaped, not the end of the text.
    assert.equal(showBytes(Buffer.from('SSH-2.0-OpenSSH_9\x1b[2J\x00.2\r\nnext', 'latin1')), '"SSH-2.0-OpenSSH_9\\x1b[2J\\x00.2\\x0d\\x0a" and 4 more bytes');
    assert.equal(showBytes(Buffer.from('220 caf\u00e9 \u202e\\ ready')), '"220 caf\u00e9 \\u{202e}\\\\ ready"');
    assert.equal(showBytes(Buffer.from('A'.repeat(70))), `"${'A'.repeat(64)}" and 6 more bytes`);
    assert.equal(showBytes(Buffer.from('\x1b[31mEVIL\r\n')), '1b 5b 33 31 6d 45 56 49 4c 0d 0a');
    assert.equal(showBytes(hex('005b000000000000')), '00 5b 00 00 00 00 00 00');
  });
  test('escapeText leaves printable ASCII and escapes the rest', () => {
    assert.equal(escapeText('a b~'), 'a b~');
    assert.equal(escapeText('x\x1b[2J\x07\ty\u00e9'), 'x\\x1b[2J\\x07\\ty\\xe9');
    // A backslash the peer sent cannot pass for one of the escapes.
    assert.equal(escapeText('a\\x1b'), 'a\\\\x1b');
  });
});

test('errorText: a socket error in the words of the errno mapping, not Node\'s message', () => {
  const reset = Object.assign(new Error('connect ECONNRESET 127.0.0.1:1080'), { code: 'ECONNRESET', errno: -104, syscall: 'connect' });
  assert.equal(errorText(reset), 'connection reset');
  assert.equal(errorText(new Error('plain words')), 'plain words');
});

describe('verdict, table and the open-proxy rule', () => {
  const base = {
    reachable: true, speaksSocks: true, kind: 'socks', proxy: 'socks5h://127.0.0.1:1080', latencyMs: 1,
    versions: { socks5: true, socks4: true, socks4a: false }, methods: { none: false, gssapi: false, userpass: true },
    auth: 'ok', commands: { connect: 'ok', bind: 'refused', udp: 'untested' },
    addressTypes: { ipv4: 'ok', ipv6: 'refused', domain: 'ok' },
    details: Object.fromEntries(['connect', 'bind', 'udp', 'socks4', 'socks4a', 'ipv4', 'ipv6', 'domain'].map((name) => [name, { status: 'ok', latencyMs: 1 }])),
    findings: ['one'], verdict: '',
  } as unknown as ProbeReport;

  test('a command that never got an answer is named apart from a refusal', () => {
    assert.equal(verdictFor({ ...base, commands: { connect: 'timeout', bind: 'refused', udp: 'timeout' } }), 'SOCKS5, SOCKS4 (username/password accepted); BIND refused; CONNECT, UDP got no answer; 1 warning');
  });

  test('a detail shared by several rows is said once, as a note', () => {
    const hint = 'give them with -U user:pass';
    const details = { ...base.details, connect: { status: 'untested', reason: hint }, bind: { status: 'untested', reason: hint }, udp: { status: 'untested', reason: hint } };
    const grid = probeGrid({ ...base, versions: { socks5: true, socks4: true, socks4a: true }, addressTypes: { ipv4: 'ok', ipv6: 'ok', domain: 'ok' }, commands: { connect: 'untested', bind: 'untested', udp: 'untested' }, details } as unknown as ProbeReport);
    assert.deepEqual(grid.notes, [hint]);
    assert.deepEqual(grid.rows.filter((row) => row[2] === 'see note 1').map((row) => row[0]), ['CONNECT', 'BIND', 'UDP ASSOCIATE']);
    assert.equal(grid.rows.filter((row) => row[2] === hint).length, 0);
  });

  test('--fail-on: the named checks that did not pass, in the order named', () => {
    assert.deepEqual(failedChecks(base, ['connect', 'bind', 'udp', 'auth', 'socks4a', 'ipv6', 'warnings', 'socks5']), ['bind', 'udp', 'socks4a', 'ipv6', 'warnings']);
    assert.deepEqual(failedChecks({ ...base, findings: [], auth: 'not-required' }, ['auth', 'warnings', 'connect']), []);
    assert.deepEqual(failedChecks({ ...base, auth: 'not-tested' }, ['auth']), ['auth']);
  });

  test('--fail-on http passes where the "HTTP proxy" row says yes: beside SOCKS or alone, not for a web server', () => {
    const http = { connect: 'ok', forward: 'ok', auth: { required: false, schemes: [], credentials: 'not-tested' }, details: { connect: { status: 'ok' }, forward: { status: 'ok' } } };
    const httpRow = (report: ProbeReport): string | undefined => probeGrid(report).rows.find((row) => row[0] === 'HTTP proxy')?.join(' | ');
    const beside = { ...base, http } as unknown as ProbeReport;
    assert.deepEqual(failedChecks(beside, ['http']), []);
    assert.equal(httpRow(beside), 'HTTP proxy | yes | ');
    assert.deepEqual(failedChecks(base, ['http']), ['http']);
    const alone = { ...base, speaksSocks: false, kind: 'http-proxy', http } as unknown as ProbeReport;
    assert.deepEqual(failedChecks(alone, ['http']), []);
    assert.equal(httpRow(alone), 'HTTP proxy | yes | ');
    const webServer = { ...base, speaksSocks: false, kind: 'http', http: { ...http, connect: 'refused', forward: 'refused' } } as unknown as ProbeReport;
    assert.deepEqual(failedChecks(webServer, ['http']), ['http']);
    assert.equal(httpRow(webServer), 'HTTP proxy | no | ');
  });

  test('the verdict names versions, auth, what works, what not, and counts warnings', () => {
    assert.equal(verdictFor(base), 'SOCKS5, SOCKS4 (username/password accepted); CONNECT works; BIND refused; UDP untested; 1 warning');
    assert.equal(verdictFor({ ...base, reachable: false, reason: 'nothing listens' }), 'unreachable: nothing listens');
    assert.equal(verdictFor({ ...base, speaksSocks: false, kind: 'silent', reason: 'it sent nothing' }), 'not a SOCKS proxy: it sent nothing');
  });

  test('the table has a row per check and one per warning; an unreachable endpoint gets one row', () => {
    const grid = probeGrid(base);
    assert.deepEqual(grid.header, ['Check', 'Result', 'Detail']);
    assert.deepEqual(grid.rows.map((row) => row[0]), [
      'Reachable', 'Speaks SOCKS', 'SOCKS5', 'SOCKS4', 'SOCKS4a', 'Method no-auth', 'Method GSSAPI', 'Method username/password',
      'Auth', 'CONNECT', 'BIND', 'UDP ASSOCIATE', 'Address IPv4', 'Address IPv6', 'Address domain', 'Warning',
    ]);
    assert.deepEqual(probeGrid({ ...base, reachable: false, reason: 'refused' }).rows, [['Reachable', 'no', 'refused']]);
  });

  test('open proxy: no auth and CONNECT ok on a non-loopback address only', () => {
    const proxy = parseProxyUrl('socks5h://192.0.2.2:1080');
    assert.match(openProxyFinding(proxy, '192.0.2.1', true, 'ok')[0] ?? '', /^open proxy: anyone who reaches 192\.0\.2\.2:1080/);
    assert.deepEqual(openProxyFinding(proxy, '127.0.0.1', true, 'ok'), []);
    assert.deepEqual(openProxyFinding(proxy, '::1', true, 'ok'), []);
    assert.deepEqual(openProxyFinding(proxy, '192.0.2.1', false, 'ok'), []);
    assert.deepEqual(openProxyFinding(proxy, '192.0.2.1', true, 'refused'), []);
  });
});

describe('probe() in process', () => {
  const stops: Array<() => Promise<void>> = [];
  after(async () => { for (const stop of stops.reverse()) await stop(); });

  for (const host of ['127.0.0.1', '::1']) {
    test(`SocksServer on ${host}: everything works, echo targets on the facing loopback`, T, async () => {
      const server = await startSocksServer({}, host);
      stops.push(() => server.close());
      const progress: string[] = [];
      const proxy = parseProxyUrl(`socks5h://${host.includes(':') ? `[${host}]` : host}:${server.port}`);
      const report = await probe({ proxy, timeoutMs: 2000, onProgress: (text) => progress.push(text) });
      assert.equal(report.speaksSocks, true);
      assert.deepEqual(report.versions, { socks5: true, socks4: true, socks4a: true });
      assert.deepEqual(report.commands, { connect: 'ok', bind: 'ok', udp: 'ok' });
      assert.deepEqual(report.addressTypes, { ipv4: 'ok', ipv6: 'ok', domain: 'ok' });
      assert.deepEqual(report.findings, []);
      assert.ok(report.target?.startsWith(host.includes(':') ? '127.0.0.1:' : `${host}:`), report.target);
      assert.deepEqual(report.dataFlow, { socks5: 'ok', socks4: 'ok', socks4a: 'ok' });
      assert.ok(progress.length >= 3, progress.join(', '));
    });
  }

  test('a server that cuts its error replies short: a finding per command, the code still named', T, async () => {
    const fake = await startShortReplier();
    stops.push(() => fake.stop());
    const report = await probe({ proxy: parseProxyUrl(`127.0.0.1:${fake.port}`), timeoutMs: 1000 });
    assert.equal(report.speaksSocks, true);
    assert.deepEqual(report.versions, { socks5: true, socks4: false, socks4a: false });
    assert.deepEqual(report.commands, { connect: 'refused', bind: 'refused', udp: 'refused' });
    assert.equal(report.details.connect.reason, 'command not supported (short reply)');
    for (const command of ['CONNECT', 'BIND', 'UDP ASSOCIATE']) {
      assert.ok(report.findings.includes(`short error reply to ${command}: 2 bytes (05 07) and then closed, where a complete reply has 10`), report.findings.join('\n'));
    }
  });

  test('a proxy that answers the greeting and never a request: commands "timeout", not "refused"', T, async () => {
    const fake = await startScripted({ choose: () => Method.NONE });
    stops.push(() => fake.stop());
    const report = await probe({ proxy: parseProxyUrl(`127.0.0.1:${fake.port}`), timeoutMs: 500 });
    assert.deepEqual(report.commands, { connect: 'timeout', bind: 'timeout', udp: 'timeout' });
    assert.match(report.details.connect.reason ?? '', /did not answer within 500 ms/);
    assert.deepEqual(report.versions, { socks5: true, socks4: false, socks4a: false });
    assert.match(report.verdict, /CONNECT, BIND, UDP got no answer/);
  });

  test('one rule for every version: refusing every target in SOCKS4 and SOCKS5 alike, both are spoken; no data flows', T, async () => {
    const fake = await startScripted({
      choose: () => Method.NONE,
      socks5: () => socks5Refusal(Reply.NOT_ALLOWED),
      socks4: () => encodeSocks4Reply({ reply: 0x5b, port: 0, host: '0.0.0.0' }),
    });
    stops.push(() => fake.stop());
    const report = await probe({ proxy: parseProxyUrl(`127.0.0.1:${fake.port}`), timeoutMs: 1000 });
    // SOCKS4a is spoken only when granted: a SOCKS4-only server answers a SOCKS4a request too.
    assert.deepEqual(report.versions, { socks5: true, socks4: true, socks4a: false });
    assert.deepEqual(report.dataFlow, { socks5: 'refused', socks4: 'refused', socks4a: 'refused' });
    assert.equal(report.details.socks4.reply, 'request rejected or failed (SOCKS4 reply 0x5b)');
    assert.deepEqual(report.commands, { connect: 'refused', bind: 'refused', udp: 'refused' });
    const row = probeGrid(report).rows.find((cells) => cells[0] === 'SOCKS4');
    assert.deepEqual(row, ['SOCKS4', 'yes', 'answers, but CONNECT failed: request rejected or failed (SOCKS4 reply 0x5b)']);
  });

  for (const [given, expected] of [['alice:s3cret', 'ok'], ['alice:wrong', 'failed'], [undefined, 'not-required']] as const) {
    test(`no-auth and username/password both accepted (Tor), credentials ${given ?? 'none'}: auth ${expected}`, T, async () => {
      const fake = await startScripted({
        choose: (methods) => (methods.length === 1 ? methods[0] ?? Method.NO_ACCEPTABLE : Method.USERPASS),
        login: (user, password) => user === 'alice' && password === 's3cret',
        socks5: () => socks5Refusal(Reply.NOT_ALLOWED),
      });
      stops.push(() => fake.stop());
      const report = await probe({ proxy: parseProxyUrl(`socks5h://${given === undefined ? '' : `${given}@`}127.0.0.1:${fake.port}`), timeoutMs: 1000 });
      assert.deepEqual(report.methods, { none: true, gssapi: true, userpass: true });
      assert.equal(report.auth, expected);
      // Rejected credentials with no-auth open: the commands still run, without them.
      assert.deepEqual(report.commands, { connect: 'refused', bind: 'refused', udp: 'refused' });
    });
  }

  test('an SSH server: its banner shown as escaped text, not hex', T, async () => {
    const fake = await startScripted({ choose: () => Method.NO_ACCEPTABLE, banner: Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian\r\n') });
    stops.push(() => fake.stop());
    const report = await probe({ proxy: parseProxyUrl(`127.0.0.1:${fake.port}`), timeoutMs: 1000 });
    assert.equal(report.speaksSocks, false);
    assert.equal(report.kind, 'other');
    // Its 05 ff may come in the same read as the banner.
    assert.match(report.reason ?? '', /^it answered the SOCKS5 greeting with "SSH-2\.0-OpenSSH_9\.2p1 Debian\\x0d\\x0a"( and 2 more bytes)?$/);
  });

  test('a banner with control characters in its line: the whole line, escaped, in the reason and the table', T, async () => {
    const fake = await startScripted({ choose: () => Method.NO_ACCEPTABLE, banner: Buffer.from('SSH-2.0-OpenSSH_9\x1b]0;pwned\x07.6p1\r\n', 'latin1') });
    stops.push(() => fake.stop());
    const report = await probe({ proxy: parseProxyUrl(`127.0.0.1:${fake.port}`), timeoutMs: 1000 });
    assert.match(report.reason ?? '', /^it answered the SOCKS5 greeting with "SSH-2\.0-OpenSSH_9\\x1b\]0;pwned\\x07\.6p1\\x0d\\x0a"( and 2 more bytes)?$/);
    const row = probeGrid(report).rows.find((cells) => cells[0] === 'Speaks SOCKS');
    assert.ok(row?.[2]?.startsWith('other: it answered the SOCKS5 greeting with "SSH-2.0-OpenSSH_9\\x1b]0;pwned\\x07.6p1\\x0d\\x0a"'), row?.join(' | '));
  });
});

describe('probe() against an HTTP proxy that only says 407', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => { for (const stop of cleanup) await stop(); });

  test('Digest only, with credentials: auth failed (socx sends Basic only); C1 controls in the reason phrase and scheme escaped', T, async () => {
    const fake = await startHttpResponder('HTTP/1.1 407 Go\x9b2J away\r\nProxy-Authenticate: Digest\x85 realm="x", nonce="1"\r\nServer: fake\r\nContent-Length: 0\r\n\r\n');
    cleanup.push(fake.stop);
    const report = await probe({ proxy: parseProxyUrl(`socks5h://alice:pw@127.0.0.1:${fake.port}`), timeoutMs: 500 });
    assert.equal(report.kind, 'http-proxy');
    assert.equal(report.speaksSocks, false);
    assert.deepEqual(report.http?.auth, { required: true, schemes: ['Digest\\x85'], credentials: 'failed' });
    assert.equal(report.auth, 'failed');
    assert.equal(report.reason, 'the proxy rejected the credentials for user "alice" (407 Go\\x9b2J away): it asks for Digest\\x85, and socx sends only Basic');
    assert.equal(report.http?.details.connect.reply, '407 Go\\x9b2J away');
    assert.equal(report.http?.server, 'fake');
    assert.equal(report.commands.connect, 'refused');
    assert.equal(report.verdict, 'HTTP proxy (credentials rejected); CONNECT, forwarding refused');
    const rows = probeGrid(report).rows.map((row) => row.join(' | '));
    assert.ok(rows.includes('Proxy auth | required | 407, Proxy-Authenticate: Digest\\x85'), rows.join('\n'));
    assert.ok(rows.includes('HTTP proxy | yes | fake'), rows.join('\n'));
  });
});
