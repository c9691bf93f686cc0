/** `socx probe --conformance`: in process against fakes that break one rule each (every check's verdict is
 * the one the fake earns), and the built dist/socx against socx serve, microsocks, Dante and ssh -D, each
 * check's result pinned to what these servers do today (the README's "How servers do"). */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { CHECKS, runConformance, type ConformanceReport } from '../../lib/probe/conformance.ts';
import { conformanceMarkdown } from '../../lib/probe/conformance-report.ts';
import { closedPort } from '../helpers/net.ts';
import { startSocksServer } from '../helpers/socks.ts';
import { Cleanup, describeRun, NO_PROXY_ENV, runSocx, startSocxServe } from '../interop/socx.ts';
import { startShortReplier, startYesMan } from './fakes.ts';
import { startConformanceServers, type Server } from './servers.ts';

const T = { timeout: 120_000 };
const ENV = { ...NO_PROXY_ENV, NO_COLOR: '1' };
const cleanup = new Cleanup();
after(() => cleanup.run());

const resultOf = (report: ConformanceReport, id: string): string | undefined => report.checks.find((check) => check.id === id)?.result;

describe('conformance in process', () => {
  test('the in-process SocksServer: every check but the deadline (skipped) passes or is n/a for want of credentials', T, async () => {
    const server = await startSocksServer();
    cleanup.add({ stop: () => server.close() });
    const report = await runConformance({ proxy: parseProxyUrl(`127.0.0.1:${server.port}`), timeoutMs: 1500, deadlineMs: 0 });
    assert.deepEqual(report.checks.map((check) => check.id), CHECKS.map((check) => check.id));
    const notPassed = report.checks.filter((check) => check.result !== 'pass').map((check) => `${check.id}: ${check.result}`);
    assert.deepEqual(notPassed, ['handshake-deadline: n/a', 'userpass-failure-closes: n/a', 'userpass-success: n/a']);
    for (const check of report.checks) {
      assert.ok(check.rfc.length > 0 && check.evidence.length > 0 && check.title.length > 0, check.id);
    }
    assert.equal(report.checks.find((check) => check.id === 'socks5-refusal-complete')?.evidence, 'CONNECT to a closed port: 05 05 00 01 00 00 00 00 00 00 (connection refused)');
  });

  test('a proxy that says yes to everything: success for a refused target fails, with the bytes', T, async () => {
    const fake = cleanup.add(await startYesMan());
    const report = await runConformance({ proxy: parseProxyUrl(`127.0.0.1:${fake.port}`), timeoutMs: 800, deadlineMs: 0 });
    assert.equal(resultOf(report, 'socks5-no-success-for-refused-target'), 'fail');
    assert.match(report.checks.find((check) => check.id === 'socks5-no-success-for-refused-target')?.evidence ?? '', /^success for a port where nothing listens .*: 05 00 00 01 00 00 00 00 00 00 \(succeeded\)$/);
    assert.equal(resultOf(report, 'socks5-offered-method-only'), 'fail');
    assert.equal(resultOf(report, 'socks5-no-acceptable-method'), 'fail');
  });

  test('a proxy that cuts its refusals to 2 bytes: complete-reply checks fail', T, async () => {
    const fake = cleanup.add(await startShortReplier());
    const report = await runConformance({ proxy: parseProxyUrl(`127.0.0.1:${fake.port}`), timeoutMs: 800, deadlineMs: 0 });
    for (const id of ['socks5-refusal-complete', 'socks5-unknown-command', 'socks5-unknown-address-type']) assert.equal(resultOf(report, id), 'fail', id);
    assert.match(report.checks.find((check) => check.id === 'socks5-refusal-complete')?.evidence ?? '', /after 2 bytes \(05 07\)/);
  });

  test('a closed port: not reachable, no checks', T, async () => {
    const report = await runConformance({ proxy: parseProxyUrl(`127.0.0.1:${await closedPort()}`), timeoutMs: 800, deadlineMs: 0 });
    assert.equal(report.reachable, false);
    assert.deepEqual(report.checks, []);
  });

  test('the README table: a row per check, a column per server, totals last', () => {
    const report: ConformanceReport = { proxy: 'x', reachable: true, checks: [{ id: 'a', result: 'pass', rfc: 'RFC 1928 §3', title: 't|x', evidence: 'e' }], summary: { pass: 1, fail: 0, 'n/a': 0 } };
    assert.equal(conformanceMarkdown([{ label: 'one', report }, { label: 'two', report: { ...report, checks: [{ ...report.checks[0]!, result: 'fail' }], summary: { pass: 0, fail: 1, 'n/a': 0 } } }]), [
      '| Check | Section | one | two |',
      '|---|---|---|---|',
      '| `a` — t\\|x | RFC 1928 §3 | pass | fail |',
      '| **pass / fail / n/a** | | 1 / 0 / 0 | 0 / 1 / 0 |',
      '',
    ].join('\n'));
  });
});

/** What each server does today, a column per server in the order of startConformanceServers (socx serve,
 * microsocks, Dante, ssh -D, socx serve --auth, microsocks -u). socx serve's deadline row changes once its
 * handshake gets a deadline on the whole handshake (it has an idle timer today): update it here and rerun
 * `npm run conformance:table -- --write`. */
const EXPECTED: Readonly<Record<string, string>> = {
  'socks5-no-acceptable-method': 'pass pass pass fail pass pass',
  'socks5-offered-method-only': 'pass pass pass pass pass pass',
  'socks5-greeting-split': 'pass fail pass pass pass fail',
  'socks5-refusal-complete': 'pass pass pass fail pass pass',
  'socks5-no-success-for-refused-target': 'pass pass pass n/a pass pass',
  'socks5-unknown-command': 'pass pass fail fail pass pass',
  'socks5-unknown-address-type': 'pass pass fail fail pass pass',
  'socks5-reserved-nonzero': 'pass pass pass fail pass pass',
  'socks5-domain-1-byte': 'pass pass pass fail pass pass',
  'socks5-domain-255-bytes': 'pass pass pass fail pass pass',
  'socks5-ipv6-target': 'pass pass n/a pass pass pass',
  'socks5-pipelined': 'pass fail pass pass pass fail',
  'socks5-data-behind-request': 'pass fail pass pass pass fail',
  'relay-half-close-client-first': 'pass fail pass pass pass fail',
  'relay-half-close-target-first': 'pass fail pass pass pass fail',
  'bind-second-reply': 'pass n/a pass n/a pass n/a',
  'bind-peer-check': 'pass n/a pass n/a pass n/a',
  'udp-frag-dropped': 'pass n/a pass n/a pass n/a',
  'udp-foreign-source-dropped': 'pass n/a pass n/a pass n/a',
  'udp-closed-with-tcp': 'pass n/a pass n/a pass n/a',
  'handshake-deadline': 'pass n/a pass fail pass n/a',
  'userpass-failure-closes': 'n/a n/a n/a n/a pass pass',
  'userpass-success': 'n/a n/a n/a n/a pass pass',
  'socks4-refusal-complete': 'pass n/a pass fail pass n/a',
  'socks4-no-success-for-refused-target': 'pass n/a pass n/a pass n/a',
  'socks4a-name': 'pass n/a n/a pass n/a n/a',
};

describe('conformance against real servers (dist/socx)', () => {
  let servers: Server[] = [];
  const reports = new Map<string, ConformanceReport>();
  before(async () => {
    servers = await startConformanceServers(startSocxServe);
    for (const server of servers) cleanup.add(server);
    await Promise.all(servers.map(async (server) => {
      const args = ['probe', '--conformance', '--json', `${server.host}:${server.port}`, ...(server.credentials ? ['-U', server.credentials] : [])];
      const r = await runSocx(args, { env: ENV, timeoutMs: 100_000 });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stderr, '', describeRun(r));
      reports.set(server.label, JSON.parse(r.stdout.toString()) as ConformanceReport);
    }));
  });

  test('each server, each check: the result pinned in EXPECTED', T, () => {
    const actual = Object.fromEntries(CHECKS.map((check) => [check.id, servers.map((server) => resultOf(reports.get(server.label)!, check.id)).join(' ')]));
    assert.deepEqual(actual, EXPECTED, JSON.stringify([...reports.values()].map((report) => report.checks.filter((check) => check.result === 'fail')), null, 1));
  });

  test('every check has its section and evidence in the JSON', T, () => {
    for (const report of reports.values()) {
      assert.equal(report.reachable, true);
      for (const check of report.checks) assert.ok(check.rfc && check.evidence && ['pass', 'fail', 'n/a'].includes(check.result), JSON.stringify(check));
      assert.equal(report.summary.pass + report.summary.fail + report.summary['n/a'], CHECKS.length);
    }
  });

  test('the table fits 80 columns, with a summary line; exit 0 whatever the results', T, async () => {
    const micro = servers.find((server) => server.label === 'microsocks')!;
    const r = await runSocx(['probe', '--conformance', '--handshake-deadline', '0', `${micro.host}:${micro.port}`], { env: ENV });
    assert.equal(r.code, 0, describeRun(r));
    const lines = r.stdout.toString().trimEnd().split('\n');
    for (const line of lines) assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
    assert.match(lines.at(-1) ?? '', /^\d+ pass, \d+ fail, \d+ n\/a$/);
    assert.match(r.stdout.toString(), /│ socks5-greeting-split +│ fail +│/);
  });
});
