import type { CAC } from 'cac';
import { parseTarget } from '../lib/client/proxy-url.ts';
import type { Address } from '../lib/codec/address.ts';
import { usageError } from '../lib/errors.ts';
import { probe, type ProbeOptions } from '../lib/probe/probe.ts';
import { FAIL_ON_CHECKS, failedChecks, isProxy, probeGrid, type FailOnCheck, type ProbeReport } from '../lib/probe/report.ts';
import { runConformance, type ConformanceReport } from '../lib/probe/conformance.ts';
import { conformanceGrid, conformanceSummary } from '../lib/probe/conformance-report.ts';
import { durationOption, flagOption, listOption, MINUTE, stringOption } from './options.ts';
import { printError } from './output.ts';
import { fitLine, renderGrid, stdoutShape } from './probe-table.ts';
import { parseProxyOptions, PROXY_FALLBACK, traceOption } from './proxy-options.ts';
import { startSpinner } from './spinner.ts';

interface ProbeCommandOptions extends ProbeOptions {
  readonly json: boolean;
  readonly conformance: boolean;
  readonly deadlineMs: number;
  readonly wide: boolean;
  readonly failOn: readonly FailOnCheck[];
}

export function registerProbe(cli: CAC): void {
  cli
    .command('probe [url]', 'Tell what the SOCKS or HTTP proxy at URL supports: versions, methods, auth, CONNECT/BIND/UDP end to end, address types, latency; for an HTTP proxy CONNECT, plain forwarding and its 407')
    .option('-x, --proxy <url>', `Proxy URL when none is given as an argument (socks5h://, socks5://, socks4a://, socks4://, http://); repeat for a chain, first hop first: the last is probed through the others; else ${PROXY_FALLBACK}`)
    .option('-U, --proxy-user <user:pass>', 'Credentials to test (SOCKS5 username/password, SOCKS4 USERID, HTTP Basic); with a chain, give each hop its own in its URL')
    .option('--timeout <duration, bare = ms>', 'Limit on each step: reaching the proxy, each reply, each data round trip', { default: '3s' })
    .option('--target <host:port>', "CONNECT here (any reply byte counts as a round trip) instead of the probe's own echo on the local address facing the proxy")
    .option('--json', 'Print one JSON object instead of the table')
    .option('--conformance', 'Run the RFC 1928 / 1929 / SOCKS4 / SOCKS4a checklist instead: each check pass, fail or n/a, with the section and the evidence bytes; exit 0 when it ran')
    .option('--handshake-deadline <duration, bare = ms>', 'With --conformance: the longest a handshake trickled a byte a second may stay open before the handshake-deadline check fails; 0 skips that check', { default: `${DEFAULT_DEADLINE_MS / 1000}s` })
    .option('-v, --verbose', 'Print each handshake message sent (>) and received (<) on stderr, one decoded line each, named by the step that sent it')
    .option('--wide', 'Do not wrap the table to the terminal width (80 columns when stdout is not a terminal)')
    .option('--fail-on <checks>', `Exit 1 when one of these checks does not pass (comma-separated or repeated): ${FAIL_ON_CHECKS.join(', ')}`)
    .example('socx probe socks5h://127.0.0.1:1080')
    .example('socx probe --json -U alice:s3cret proxy.example:1080')
    .example('socx probe -v http://127.0.0.1:8888')
    .example('socx probe -x socks5h://gateway:1080 -x socks5h://alice:s3cret@inner:1080')
    .example('socx probe --conformance --handshake-deadline 0 socks5h://127.0.0.1:1080')
    .example('socx probe --fail-on connect,udp 127.0.0.1:1080 || echo broken')
    .action((url: string | undefined, raw: Record<string, unknown>) => runProbe(parseProbeOptions(url, raw)));
}

function parseProbeOptions(url: string | undefined, raw: Record<string, unknown>): ProbeCommandOptions {
  const flags = listOption(raw.proxy, 'proxy');
  if (url !== undefined && flags.length > 0) throw usageError('give the proxy either as the URL argument or with -x, not both');
  const targetText = stringOption(raw.target, 'target');
  if (flagOption(raw.conformance) && raw.failOn !== undefined) throw usageError('--fail-on applies to the probe table, not to --conformance (which exits 0 whatever the results)');
  const proxies = parseProxyOptions({ ...raw, proxy: url === undefined ? flags : String(url) }, process.env, { command: 'connect', chain: true });
  if (proxies.proxy.kind === 'http' && proxies.proxy.tls) throw usageError('probe speaks to HTTP proxies in plain TCP: https:// (TLS to the proxy) is not probed');
  if (flagOption(raw.conformance) && proxies.proxy.kind === 'http') throw usageError('--conformance checks SOCKS servers: give a socks URL');
  if (flagOption(raw.conformance) && proxies.via) throw usageError('--conformance checks one server directly: give a single proxy, not a chain');
  return {
    ...proxies,
    target: targetText === undefined ? undefined : parseHostPort(targetText),
    json: flagOption(raw.json),
    conformance: flagOption(raw.conformance),
    deadlineMs: durationOption(raw.handshakeDeadline, 'handshake-deadline', 'ms', { min: 0, max: 10 * MINUTE }) ?? DEFAULT_DEADLINE_MS,
    wide: flagOption(raw.wide),
    failOn: parseFailOn(raw.failOn),
    ...traceOption(flagOption(raw.verbose)),
  };
}

/** host:port, [v6]:port. */
function parseHostPort(text: string): Address {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!match?.[1] || !match[2]) throw usageError(`--target must be HOST:PORT (IPv6 as [addr]:port), not "${text}"`);
  return parseTarget(match[1], match[2]);
}

/** Above the 30 s that Dante (timeout.negotiate) and many servers use, so such a deadline passes with room;
 * a server without one costs this long. */
const DEFAULT_DEADLINE_MS = 40_000;

async function runConformanceCommand(options: ProbeCommandOptions): Promise<number> {
  const spinner = await startSpinner('conformance');
  let report: ConformanceReport;
  try {
    report = await runConformance({ ...options, onProgress: spinner.update });
  } finally {
    spinner.stop();
  }
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${report.reachable ? await renderGrid(conformanceGrid(report), stdoutShape(options.wide)) : ''}${conformanceSummary(report)}\n`);
  return report.reachable ? 0 : 1;
}

async function runProbe(options: ProbeCommandOptions): Promise<number> {
  if (options.conformance) return runConformanceCommand(options);
  // The trace lines are the progress: a spinner would redraw over them.
  const spinner = options.trace ? { update: () => {}, stop: () => {} } : await startSpinner('probing');
  let report: ProbeReport;
  try {
    report = await probe({ ...options, onProgress: spinner.update });
  } finally {
    spinner.stop();
  }
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const shape = stdoutShape(options.wide);
    process.stdout.write(`${await renderGrid(probeGrid(report), shape)}${fitLine(report.verdict, shape)}\n`);
  }
  const failed = failedChecks(report, options.failOn);
  if (failed.length > 0) {
    printError(`--fail-on: ${failed.join(', ')} did not pass`);
    return 1;
  }
  return isProxy(report) ? 0 : 1;
}

/** --fail-on auth,connect (or repeated): names from FAIL_ON_CHECKS. */
function parseFailOn(raw: unknown): FailOnCheck[] {
  const names = listOption(raw, 'fail-on').flatMap((item) => item.split(',')).map((name) => name.trim()).filter(Boolean);
  for (const name of names) {
    if (!(FAIL_ON_CHECKS as readonly string[]).includes(name)) throw usageError(`--fail-on: unknown check "${name}" (one of ${FAIL_ON_CHECKS.join(', ')})`);
  }
  return names as FailOnCheck[];
}


