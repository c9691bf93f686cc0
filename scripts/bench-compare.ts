// npm run bench:compare [-- --rounds 3 --duration 2s]
//
// Does `socx bench` tell the proxies apart as an independent generator does? Starts socx serve (from the
// sources), microsocks and Dante once, then, round after round, runs `socx bench` and socksload's compare.sh
// (C, epoll; ../shared/tools/socksload) against those same three processes and direct TCP, alternating which
// goes first. For every metric both measure, it sets each tool's ratios between proxies (and to direct), the
// median over the rounds of each round's ratio, side by side, and writes the table to BENCHMARKS.md between the
// markers below. Both tools and the proxies run at the same priority (nice -10 as root, inherited from here;
// compare.sh --no-nice).
// Needs microsocks and dante-server from apt, and root for compare.sh to read the proxies' CPU.

import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os, { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { processTreeCpuMs } from '../lib/bench/cpu.ts';
import { median } from '../lib/bench/stats.ts';
import type { BenchJson } from '../lib/bench/summary.ts';
import { renderMarkdown } from '../lib/bench/table.ts';
import { compareScript, packageVersion, proxyArgs, quote, runBench, runCompare, runScript, startProxies, writeSection, type Proxy } from './bench-support.ts';

const BEGIN = '<!-- bench:compare:begin: written by npm run bench:compare; edit outside these markers -->';
const END = '<!-- bench:compare:end -->';
/** How far bench's ratio may be from socksload's and still count as agreeing. */
const AGREEMENT = 0.15;

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '2' },
  },
});
const rounds = Number(options.rounds);
const seconds = Number(options.duration);
if (!(rounds >= 1 && seconds > 0)) throw new Error('--rounds must be 1 or more and --duration (seconds) above 0');

type Tool = 'bench' | 'socksload';
type BenchPathJson = BenchJson['direct'] | BenchJson['results'][number];
interface SocksloadRow { readonly test: string; readonly name: string; readonly [field: string]: unknown }

/** What a metric says about a proxy, which decides where its agreement is tallied. */
type MetricKind =
  /** A rate or a latency: what the criterion is about. */
  | 'rate'
  /** The proxy's CPU per unit of work: what each proxy costs, which does not depend on how much of the
   * machine the generator leaves it. */
  | 'cost'
  /** The proxy's share of a core during the run: how much of the machine the generator left it. Where a rate
   * ratio differs and the cost ratio does not, this is where the difference lies. */
  | 'share';

/** One metric both tools measure: where bench has it, and where socksload has it. */
interface Metric {
  readonly title: string;
  readonly kind: MetricKind;
  readonly bench: (path: BenchPathJson) => number | undefined;
  readonly test: string;
  readonly socksload: (row: SocksloadRow) => unknown;
}

/** bench's proxy CPU (percent of a core over the run) per connection and per GiB, as socksload reports them. */
const cpuPerConnectionUs = (p: BenchPathJson): number | undefined => {
  const share = p.connections.cpu.proxy;
  return share === null ? undefined : (share / 100) * 1e6 / p.connections.perSec;
};
const cpuPerGiB = (run: BenchPathJson['throughput']['upload']): number | undefined =>
  run?.cpu.proxy == null ? undefined : (run.cpu.proxy / 100) / (run.MBps * 1e6 / 2 ** 30);
const field = (name: string) => (row: SocksloadRow): unknown => row[name];
/** socksload's proxy CPU seconds over the sample's seconds, as a percentage of one core like bench's. */
const socksloadShare = (row: SocksloadRow): number => 100 * Number(row.proxy_cpu_s) / Number(row.secs);

const METRICS: readonly Metric[] = [
  { title: 'connections/s, 16 concurrent', kind: 'rate', bench: (p) => p.connections.perSec, test: 'cr16', socksload: field('cps') },
  { title: 'connect + handshake p50 µs, c=16', kind: 'rate', bench: (p) => 1000 * ('handshakeMs' in p ? p.handshakeMs : p.connectMs).p50, test: 'cr16', socksload: field('hs_p50_us') },
  { title: 'first echoed byte p50 µs, c=16', kind: 'rate', bench: (p) => 1000 * p.firstByteMs.p50, test: 'cr16', socksload: field('echo_p50_us') },
  { title: '64 B round trip p50 µs', kind: 'rate', bench: (p) => 1000 * p.roundTripMs.p50, test: 'rtt', socksload: field('p50_us') },
  { title: 'upload, 1 stream MB/s', kind: 'rate', bench: (p) => p.throughput.upload?.MBps, test: 'tp1', socksload: field('MBps') },
  { title: 'upload, 4 streams MB/s', kind: 'rate', bench: (p) => p.throughput.uploadStreams?.MBps, test: 'tp4', socksload: field('MBps') },
  { title: 'download, 1 stream MB/s', kind: 'rate', bench: (p) => p.throughput.download?.MBps, test: 'tp1r', socksload: field('MBps') },
  { title: 'proxy CPU µs per connection, c=16', kind: 'cost', bench: cpuPerConnectionUs, test: 'cr16', socksload: field('proxy_cpu_us_per_conn') },
  { title: 'proxy CPU s per GiB, upload, 1 stream', kind: 'cost', bench: (p) => cpuPerGiB(p.throughput.upload), test: 'tp1', socksload: field('proxy_cpu_s_per_GiB') },
  { title: 'proxy CPU s per GiB, upload, 4 streams', kind: 'cost', bench: (p) => cpuPerGiB(p.throughput.uploadStreams), test: 'tp4', socksload: field('proxy_cpu_s_per_GiB') },
  { title: 'proxy CPU % of a core, upload, 1 stream', kind: 'share', bench: (p) => p.throughput.upload?.cpu.proxy ?? undefined, test: 'tp1', socksload: socksloadShare },
  { title: 'proxy CPU % of a core, upload, 4 streams', kind: 'share', bench: (p) => p.throughput.uploadStreams?.cpu.proxy ?? undefined, test: 'tp4', socksload: socksloadShare },
];
const TESTS = [...new Set(METRICS.map((metric) => metric.test))].join(',');

/** Samples per tool, metric and target ("direct" or a compare.sh name), by round. */
type Samples = Map<string, Map<number, number>>;
const key = (tool: Tool, metric: Metric, target: string): string => `${tool}|${metric.title}|${target}`;

/** Past this share of the machine's CPU used by processes outside the test (other people's builds), a bench
 * round runs once more and the quieter of the two is kept; compare.sh does the same for each of its samples. */
const FOREIGN_MAX = 0.25;
const NICE = -10;

/** CPU milliseconds the whole machine spent busy (/proc/stat: all but idle and iowait). */
function machineBusyMs(): number {
  const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) * 10;
}

/** Runs `task` and tells the share of the machine's CPU that processes other than this script's (the proxies,
 * bench, compare.sh and their children are all ours) used meanwhile. */
async function withForeignShare<T>(task: () => Promise<T>): Promise<{ value: T; foreign: number }> {
  const ours = (): number => processTreeCpuMs(process.pid) ?? 0;
  const [busy, own, begun] = [machineBusyMs(), ours(), performance.now()];
  const value = await task();
  const wallMs = performance.now() - begun;
  const foreign = (machineBusyMs() - busy - (ours() - own)) / (wallMs * cpus().length);
  return { value, foreign: Math.max(0, foreign) };
}

function add(samples: Samples, tool: Tool, metric: Metric, target: string, round: number, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) return;
  // No proxy on the direct path: socksload writes 0 there.
  if (metric.kind !== 'rate' && target === 'direct') return;
  const rounds = samples.get(key(tool, metric, target)) ?? new Map<number, number>();
  rounds.set(round, value);
  samples.set(key(tool, metric, target), rounds);
}

function addBench(samples: Samples, round: number, json: BenchJson, proxies: readonly Proxy[]): void {
  for (const metric of METRICS) {
    add(samples, 'bench', metric, 'direct', round, metric.bench(json.direct));
    for (const result of json.results) {
      const name = proxies.find((proxy) => proxy.label === result.label)?.name ?? result.label;
      add(samples, 'bench', metric, name, round, metric.bench(result));
    }
  }
}

function addSocksload(samples: Samples, round: number, rows: readonly SocksloadRow[]): void {
  for (const row of rows) {
    // compare.sh marks a failed sample; one with errors or timeouts is not a measurement either.
    if (row.mode === 'failed' || Number(row.errors ?? 0) > 0 || Number(row.timeouts ?? 0) > 0) continue;
    for (const metric of METRICS.filter((m) => m.test === row.test)) add(samples, 'socksload', metric, row.name, round, metric.socksload(row));
  }
}

async function socksloadRound(out: string, proxies: readonly Proxy[]): Promise<SocksloadRow[]> {
  const endpoints = proxies.map(({ name, port, pid }) => `${name}=127.0.0.1:${port}${pid === undefined ? '' : `/${pid}`}`);
  await runCompare(['-r', '1', '--no-nice', '--tests', TESTS, '--cr-secs', String(seconds), '--tp-max', String(seconds), '-o', out, ...endpoints]);
  const lines = (await readFile(path.join(out, 'raw.jsonl'), 'utf8')).trim().split('\n');
  return lines.map((line) => JSON.parse(line) as SocksloadRow & { meta?: boolean }).filter((row) => !row.meta);
}

const valuesOf = (samples: Samples, tool: Tool, metric: Metric, target: string): number[] => [...(samples.get(key(tool, metric, target))?.values() ?? [])];

/** A tool's ratio a / b in each round; the ratio is their median. Both of a round's figures come from
 * seconds apart, so a round on a slower (or busier) machine than the others moves both and not the ratio. */
function roundRatios(samples: Samples, tool: Tool, metric: Metric, a: string, b: string): number[] {
  const over = samples.get(key(tool, metric, b));
  return [...(samples.get(key(tool, metric, a)) ?? [])].flatMap(([round, value]) => {
    const base = over?.get(round);
    return base === undefined ? [] : [value / base];
  });
}

function format(number: number): string {
  if (!Number.isFinite(number)) return '-';
  return number >= 100 ? String(Math.round(number)) : number.toPrecision(3);
}

/** A relative difference as a signed whole percentage: +16%, -3%, 0%. */
const signedPercent = (off: number): string => `${off >= 0 ? '+' : ''}${Math.round(off * 100)}%`;

/** How far a tool's ratios of single rounds stray from their median: the noise a ratio carries. */
function spread(ratios: readonly number[], mid: number): string {
  const offs = ratios.map((ratio) => ratio / mid - 1);
  return ratios.length > 1 ? `${signedPercent(Math.min(...offs))} to ${signedPercent(Math.max(...offs))}` : '-';
}

/** Every tool's medians, then every ratio from both tools and how far apart they are. */
interface Tally { agreed: number; compared: number }

function tables(samples: Samples, targets: readonly string[], labels: ReadonlyMap<string, string>): { figures: string; ratios: string; between: Tally; toDirect: Tally; costs: Tally; shares: Tally } {
  // The spread tells the noise floor: a ratio cannot agree closer than each tool agrees with itself.
  const cell = (tool: Tool, metric: Metric, target: string): string => {
    const list = valuesOf(samples, tool, metric, target);
    const spread = list.length > 1 ? ` [${format(Math.min(...list))}–${format(Math.max(...list))}]` : '';
    return format(median(list)) + spread;
  };
  const figures = renderMarkdown({
    header: ['median [min–max] of the rounds', ...targets.map((target) => labels.get(target) ?? target)],
    rows: METRICS.flatMap((metric) => (['bench', 'socksload'] as const).map((tool) =>
      [`${metric.title}: ${tool}`, ...targets.map((target) => cell(tool, metric, target))])),
  });
  const proxies = targets.filter((target) => target !== 'direct');
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < proxies.length; i++) for (let j = i + 1; j < proxies.length; j++) pairs.push([proxies[j]!, proxies[i]!]);
  for (const proxy of proxies) pairs.push([proxy, 'direct']);
  // Between proxies is what the criterion is about; to direct also depends on each tool's own direct ceiling
  // (its sink, its chunk sizes), which differ by design.
  const between: Tally = { agreed: 0, compared: 0 };
  const toDirect: Tally = { agreed: 0, compared: 0 };
  const costs: Tally = { agreed: 0, compared: 0 };
  const shares: Tally = { agreed: 0, compared: 0 };
  const rows: string[][] = [];
  for (const metric of METRICS) {
    for (const [a, b] of pairs) {
      const [benchRounds, socksloadRounds] = (['bench', 'socksload'] as const).map((tool) => roundRatios(samples, tool, metric, a, b)) as [number[], number[]];
      const bench = median(benchRounds);
      const socksload = median(socksloadRounds);
      if (!Number.isFinite(bench) || !Number.isFinite(socksload)) continue;
      const off = bench / socksload - 1;
      const agrees = Math.abs(off) <= AGREEMENT;
      const tally = metric.kind === 'cost' ? costs : metric.kind === 'share' ? shares : b === 'direct' ? toDirect : between;
      tally.compared++;
      if (agrees) tally.agreed++;
      rows.push([metric.title, `${labels.get(a) ?? a} / ${labels.get(b) ?? b}`, bench.toFixed(2), socksload.toFixed(2), signedPercent(off), agrees ? 'yes' : 'no', `${spread(benchRounds, bench)} / ${spread(socksloadRounds, socksload)}`]);
    }
  }
  const ratios = renderMarkdown({ header: ['metric', 'ratio', 'bench', 'socksload', 'bench vs socksload', `within ±${AGREEMENT * 100}%`, "rounds' ratios, bench / socksload"], rows });
  return { figures, ratios, between, toDirect, costs, shares };
}

const proxies: Proxy[] = [];
runScript('bench:compare', proxies, async () => {
  compareScript();
  // As compare.sh does by default as root: a higher priority for everything under test (the proxies, bench,
  // socksload and the targets all start from here and inherit it), so that other work disturbs less.
  if (process.getuid?.() === 0) os.setPriority(NICE);
  await startProxies(proxies);
  const benchArgs = ['--repeat', '1', '--duration', `${seconds}s`, '--concurrency', '16', '--streams', '4', '--messages', '3000', '--message-size', '64', ...proxyArgs(proxies)];
  const samples: Samples = new Map();
  const work = await mkdtemp(path.join(os.tmpdir(), 'socx-bench-compare-'));
  let date = '';
  let machine = '';
  const foreignShares: number[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`bench:compare: round ${round}/${rounds}\n`);
      // Alternate which tool goes first, so that neither always meets a machine warmed (or tired) by the other.
      const order = round % 2 === 1 ? ['bench', 'socksload'] : ['socksload', 'bench'];
      for (const tool of order) {
        if (tool === 'bench') {
          let { value: json, foreign } = await withForeignShare(() => runBench(benchArgs));
          if (foreign > FOREIGN_MAX) {
            process.stderr.write(`bench:compare: ${Math.round(foreign * 100)}% of the CPU went to other processes during bench; once more\n`);
            const again = await withForeignShare(() => runBench(benchArgs));
            if (again.foreign < foreign) ({ value: json, foreign } = again);
          }
          foreignShares.push(foreign);
          date ||= json.date.slice(0, 10);
          machine ||= `${json.machine.cpus} cores (${json.machine.model}), ${json.machine.memoryGiB} GiB, ${json.machine.os}, node ${json.machine.node}`;
          addBench(samples, round, json, proxies);
        } else {
          addSocksload(samples, round, await socksloadRound(path.join(work, `round-${round}`), proxies));
        }
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const targets = ['direct', ...proxies.map((proxy) => proxy.name)];
  const labels = new Map(proxies.map((proxy) => [proxy.name, proxy.label]));
  const { figures, ratios, between, toDirect, costs, shares } = tables(samples, targets, labels);
  const section = [
    BEGIN,
    '## bench against socksload (`npm run bench:compare`)',
    '',
    `- Date: ${date}; machine: ${machine}`,
    `- Priority: ${os.getPriority()} (nice) for the proxies, bench, socksload and the targets alike`,
    `- Peers: microsocks ${packageVersion('microsocks')}, Dante ${packageVersion('dante-server')} (Debian packages), socx serve from this tree; the same three processes for both tools`,
    `- Command: \`npm run bench:compare -- --rounds ${rounds} --duration ${seconds}\`: ${rounds} rounds, each \`socx bench ${quote(benchArgs.filter((arg) => !/^socks5h:/.test(arg)))} -x …\` and \`compare.sh -r 1 --no-nice --tests ${TESTS} --cr-secs ${seconds} --tp-max ${seconds}\`, alternating which runs first; every figure is the median of the rounds, every ratio the median of the rounds' ratios`,
    `- Other processes on the machine used ${foreignShares.map((share) => `${Math.round(share * 100)}%`).join(', ')} of its CPU during the bench rounds kept (a round above ${FOREIGN_MAX * 100}% ran twice; compare.sh retries its own samples the same way)`,
    `- **${between.agreed} of ${between.compared} ratios between proxies agree within ±${AGREEMENT * 100}%**; ${toDirect.agreed} of ${toDirect.compared} ratios to direct do; of what the proxies cost (their CPU per connection and per GiB), ${costs.agreed} of ${costs.compared} ratios do; of how much of a core each generator left the proxies during uploads, ${shares.agreed} of ${shares.compared} do.`,
    '',
    ratios,
    '',
    figures,
    END,
  ].join('\n');
  await writeSection(BEGIN, END, section);
  process.stdout.write(`${section}\n\nwritten to BENCHMARKS.md\n`);
});
