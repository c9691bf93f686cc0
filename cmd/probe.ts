import type { CAC } from 'cac';
import { parseTarget } from '../lib/client/proxy-url.ts';
import type { Address } from '../lib/codec/address.ts';
import { usageError } from '../lib/errors.ts';
import { probe, type ProbeOptions } from '../lib/probe/probe.ts';
import { probeGrid, type ProbeReport } from '../lib/probe/report.ts';
import { flagOption, stringOption } from './options.ts';
import { DEFAULT_PROXY, parseProxyOptions } from './proxy-options.ts';
import { startSpinner } from './spinner.ts';

interface ProbeCommandOptions extends ProbeOptions {
  readonly json: boolean;
}

export function registerProbe(cli: CAC): void {
  cli
    .command('probe [url]', 'Tell what the SOCKS endpoint at URL supports: versions, methods, auth, CONNECT/BIND/UDP end to end, address types, latency')
    .option('-x, --proxy <url>', `Proxy URL when none is given as an argument; else $SOCX_PROXY, $ALL_PROXY, then ${DEFAULT_PROXY}`)
    .option('-U, --proxy-user <user:pass>', 'Credentials to test (SOCKS5 username/password, SOCKS4 USERID)')
    .option('--timeout <duration, bare = ms>', 'Limit on each step: reaching the proxy, each reply, each data round trip', { default: '3s' })
    .option('--target <host:port>', "CONNECT here (any reply byte counts as a round trip) instead of the probe's own echo on the local address facing the proxy")
    .option('--json', 'Print one JSON object instead of the table')
    .example('socx probe socks5h://127.0.0.1:1080')
    .example('socx probe --json -U alice:s3cret proxy.example:1080')
    .action((url: string | undefined, raw: Record<string, unknown>) => runProbe(parseProbeOptions(url, raw)));
}

function parseProbeOptions(url: string | undefined, raw: Record<string, unknown>): ProbeCommandOptions {
  const flag = stringOption(raw.proxy, 'proxy');
  if (url !== undefined && flag !== undefined) throw usageError('give the proxy either as the URL argument or with -x, not both');
  const targetText = stringOption(raw.target, 'target');
  return {
    ...parseProxyOptions({ ...raw, proxy: url === undefined ? flag : String(url) }),
    target: targetText === undefined ? undefined : parseHostPort(targetText),
    json: flagOption(raw.json),
  };
}

/** host:port, [v6]:port. */
function parseHostPort(text: string): Address {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!match?.[1] || !match[2]) throw usageError(`--target must be HOST:PORT (IPv6 as [addr]:port), not "${text}"`);
  return parseTarget(match[1], match[2]);
}

async function runProbe(options: ProbeCommandOptions): Promise<number> {
  const spinner = await startSpinner('probing');
  let report: ProbeReport;
  try {
    report = await probe({ ...options, onProgress: spinner.update });
  } finally {
    spinner.stop();
  }
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else await printTable(report);
  return report.speaksSocks ? 0 : 1;
}

async function printTable(report: ProbeReport): Promise<void> {
  const { default: Table } = await import('cli-table3');
  const grid = probeGrid(report);
  // No colour: this goes to stdout, which may well be a file.
  const width = (column: number, cap: number): number => Math.min(cap, Math.max(...[grid.header, ...grid.rows].map((row) => row[column]?.length ?? 0)) + 2);
  const table = new Table({
    head: [...grid.header],
    style: { head: [], border: [], compact: true },
    wordWrap: true,
    colWidths: [width(0, 30), width(1, 16), width(2, 72)],
  });
  table.push(...grid.rows.map((row) => [...row]));
  process.stdout.write(`${table.toString()}\n${report.verdict}\n`);
}
