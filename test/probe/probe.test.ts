/** lib/probe in-process: the first-answer decoder at every split point, the verdict and table, the open-proxy
 * rule, and probe() against the in-process SocksServer (IPv4 and IPv6 loopback) and a server that cuts its
 * error replies short. */

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { decodeFirstAnswer } from '../../lib/probe/detect.ts';
import { openProxyFinding, probe } from '../../lib/probe/probe.ts';
import { probeGrid, verdictFor, type ProbeReport } from '../../lib/probe/report.ts';
import { hex } from '../helpers/net.ts';
import { startSocksServer } from '../helpers/socks.ts';
import { startShortReplier } from './fakes.ts';

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

describe('verdict, table and the open-proxy rule', () => {
  const base = {
    reachable: true, speaksSocks: true, kind: 'socks', proxy: 'socks5h://127.0.0.1:1080', latencyMs: 1,
    versions: { socks5: true, socks4: true, socks4a: false }, methods: { none: false, gssapi: false, userpass: true },
    auth: 'ok', commands: { connect: 'ok', bind: 'refused', udp: 'untested' },
    addressTypes: { ipv4: 'ok', ipv6: 'refused', domain: 'ok' },
    details: Object.fromEntries(['connect', 'bind', 'udp', 'socks4', 'socks4a', 'ipv4', 'ipv6', 'domain'].map((name) => [name, { status: 'ok', latencyMs: 1 }])),
    findings: ['one'], verdict: '',
  } as unknown as ProbeReport;

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
      assert.ok(progress.length >= 5, progress.join(', '));
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
});
