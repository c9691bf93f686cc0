import { MIN_RUN_MS, MIN_SAMPLES, type ThroughputKind } from './runner.ts';
import type { BenchJson, ConfigJson, CpuJson, PercentilesJson, UdpSizeJson } from './summary.ts';

/** A grid of text cells: the same rows serve the terminal table (cli-table3) and BENCHMARKS.md. */
export interface Grid {
  readonly header: string[];
  readonly rows: string[][];
}

type PathView = BenchJson['direct'] | BenchJson['results'][number];

/** What the tables do not say themselves. */
export function tableNotes(json: BenchJson): string {
  const { config } = json;
  const length = config.bytes === null ? `${config.durationSeconds} s` : `${config.bytes} bytes`;
  const runs = config.repeat > 1 ? `the median of ${config.repeat} runs (±: half their range)` : 'one run';
  const short = hasTooShort(json)
    ? ` "too short": a run under ${MIN_RUN_MS} ms (or under ${MIN_SAMPLES} connections or round trips) times setup, not the path: raise --bytes, --duration or --messages.`
    : '';
  return `MB/s = 10^6 bytes/s; (n%) = share of the direct path's figure; direct "handshake" = TCP connect alone. ` +
    `Each figure is ${runs}, ${length} per throughput run, ${config.durationSeconds} s per connection-rate run.${short}`;
}

export function resultsGrid(json: BenchJson): Grid {
  const { config } = json;
  const paths: PathView[] = [json.direct, ...json.results];
  const showSpread = config.repeat > 1;
  const rows: string[][] = [];
  for (const [kind, title] of throughputTitles(json)) {
    rows.push([`${title} (MB/s)`, ...paths.map((path) => {
      const entry = path.throughput[kind];
      if (!entry) return '-';
      return entry.tooShort || json.direct.throughput[kind]?.tooShort ? TOO_SHORT : measured(entry.MBps, entry.min, entry.max, entry.ratioToDirect, showSpread);
    })]);
  }
  const shortRate = json.direct.connections.tooShort;
  rows.push([`connections/s, ${config.concurrency} concurrent`, ...paths.map(({ connections: c }) =>
    (c.tooShort || shortRate ? TOO_SHORT : measured(c.perSec, c.min, c.max, c.ratioToDirect, showSpread)) + (c.failures > 0 ? `, ${c.failures} failed` : ''))]);
  const handshake = (path: PathView): PercentilesJson => ('handshakeMs' in path ? path.handshakeMs : path.connectMs);
  for (const p of ['p50', 'p90', 'p99', 'max'] as const) {
    rows.push([`connect + handshake ${p} (ms)`, ...paths.map((path) => (path.connections.tooShort ? TOO_SHORT : ms(handshake(path)[p])))]);
  }
  for (const p of ['p50', 'p99'] as const) {
    rows.push([`${config.messageSize}-byte round trip ${p} (ms)`, ...paths.map((path) => (path.roundTripTooShort ? TOO_SHORT : ms(path.roundTripMs[p])))]);
  }
  for (const size of udpSizes(json)) {
    const cell = (path: PathView, text: (entry: UdpSizeJson) => string): string => {
      if (path.udp === null) return 'no UDP relay';
      const entry = path.udp?.bySize.find((candidate) => candidate.payloadBytes === size);
      return entry ? text(entry) : '-';
    };
    rows.push([`UDP ${size} B: datagrams/s`, ...paths.map((path) => cell(path, (e) => measured(e.datagramsPerSec, e.datagramsPerSec, e.datagramsPerSec, e.ratioToDirect, false)))]);
    rows.push([`UDP ${size} B: MB/s`, ...paths.map((path) => cell(path, (e) => number(e.MBps)))]);
    rows.push([`UDP ${size} B: loss`, ...paths.map((path) => cell(path, (e) => `${(e.lossRatio * 100).toFixed(e.lossRatio < 0.01 ? 2 : 1)}%`))]);
    for (const p of ['p50', 'p99'] as const) rows.push([`UDP ${size} B: round trip ${p} (ms)`, ...paths.map((path) => cell(path, (e) => ms(e.rttMs[p])))]);
  }
  return { header: ['', ...pathNames(json)], rows };
}

/** CPU use during each measurement, % of one core: what tells which side was the limit. */
export function cpuGrid(json: BenchJson): Grid {
  const paths: PathView[] = [json.direct, ...json.results];
  const rows = throughputTitles(json).map(([kind, title]) => [title, ...paths.map((path) => cpu(path.throughput[kind]?.cpu))]);
  rows.push([`round trips of ${json.config.messageSize} bytes`, ...paths.map((path) => cpu(path.roundTripCpu))]);
  for (const size of udpSizes(json)) {
    rows.push([`UDP, ${size}-byte datagrams`, ...paths.map((path) => cpu(path.udp?.bySize.find((entry) => entry.payloadBytes === size)?.cpu))]);
  }
  rows.push([`connections, ${json.config.concurrency} concurrent`, ...paths.map((path) => cpu(path.connections.cpu))]);
  return { header: ['CPU %: proxy / bench / targets', ...pathNames(json)], rows };
}

const TOO_SHORT = 'too short';

function udpSizes(json: BenchJson): number[] {
  return json.direct.udp?.bySize.map((entry) => entry.payloadBytes) ?? [];
}

function hasTooShort(json: BenchJson): boolean {
  return [json.direct, ...json.results].some((path) =>
    path.connections.tooShort || path.roundTripTooShort || Object.values(path.throughput).some((entry) => entry.tooShort));
}

export function renderMarkdown(grid: Grid): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const line = (cells: readonly string[]): string => `| ${cells.map(escape).join(' | ')} |`;
  const align = grid.header.map((_, index) => (index === 0 ? '---' : '---:'));
  return [line(grid.header), `|${align.join('|')}|`, ...grid.rows.map(line)].join('\n');
}

/** The throughput runs that took place, with their row titles. */
function throughputTitles(json: BenchJson): Array<[ThroughputKind, string]> {
  const { streams }: ConfigJson = json.config;
  const all: Array<[ThroughputKind, string]> = [
    ['upload', 'upload, 1 stream'],
    ['download', 'download, 1 stream'],
    ['uploadStreams', `upload, ${streams} streams`],
    ['downloadStreams', `download, ${streams} streams`],
  ];
  return all.filter(([kind]) => json.direct.throughput[kind] !== undefined);
}

function pathNames(json: BenchJson): string[] {
  return ['direct', ...json.results.map((result) => result.label)];
}

/** A value, ±half its range over the runs (with --repeat), and its share of the direct path's. */
function measured(value: number, min: number, max: number, ratio: number | undefined, showSpread: boolean): string {
  let text = number(value);
  if (showSpread && value > 0) text += ` ±${Math.round((50 * (max - min)) / value)}%`;
  if (ratio !== undefined) text += ` (${Math.round(ratio * 100)}%)`;
  return text;
}

function number(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value >= 100) return String(Math.round(value));
  return value.toPrecision(3).replace(/\.?0+$/, '');
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value < 1 ? value.toFixed(3) : value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function cpu(share: CpuJson | undefined): string {
  if (!share) return '-';
  const part = (value: number | null): string => (value === null || !Number.isFinite(value) ? '-' : String(Math.round(value)));
  return `${part(share.proxy)} / ${part(share.generator)} / ${part(share.targets)}`;
}
