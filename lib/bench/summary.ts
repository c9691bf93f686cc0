import { describeProxy, type ProxyConfig } from '../client/proxy-url.ts';
import type { BenchRun, MachineInfo } from './bench.ts';
import type { CpuShare } from './cpu.ts';
import { tooShort, type PathSamples, type ThroughputKind, type UdpSample } from './runner.ts';
import { median, summarize, type Percentiles } from './stats.ts';

/** The JSON that `socx bench --json` prints. The contract fixes `direct.throughputMBps` and, per proxy,
 * `proxy`, `throughputMBps`, `ratioToDirect`, `connectionsPerSec` and `handshakeMs` {p50, p99}; the rest is
 * extra. Every figure is the median over `--repeat` runs; `min`/`max` give the spread. */
export interface BenchJson {
  readonly date: string;
  readonly machine: MachineInfo;
  readonly config: ConfigJson;
  readonly direct: DirectJson;
  readonly results: ResultJson[];
}

export interface ConfigJson {
  readonly streams: number;
  readonly concurrency: number;
  readonly bytes: number | null;
  readonly durationSeconds: number;
  readonly messages: number;
  readonly messageSize: number;
  readonly repeat: number;
  readonly targets: 'process' | 'in-process';
}

export interface PercentilesJson { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number }
/** Percent of one core, median over the runs; null where it could not be measured. */
export interface CpuJson { readonly generator: number | null; readonly targets: number | null; readonly proxy: number | null }
export interface ThroughputJson {
  readonly MBps: number;
  readonly min: number;
  readonly max: number;
  readonly ratioToDirect?: number;
  readonly cpu: CpuJson;
  /** Set when a run took under MIN_RUN_MS: the figure is not a measurement of the path. */
  readonly tooShort?: true;
}
export interface ConnectionsJson {
  readonly perSec: number;
  readonly min: number;
  readonly max: number;
  readonly ratioToDirect?: number;
  readonly connections: number;
  readonly failures: number;
  readonly cpu: CpuJson;
  /** Set when a run completed fewer than MIN_SAMPLES connections. */
  readonly tooShort?: true;
}

/** One payload size through one path's UDP relay (or directly): medians over the runs. */
export interface UdpSizeJson {
  readonly payloadBytes: number;
  /** Datagrams echoed back per second (each crossed the relay twice). */
  readonly datagramsPerSec: number;
  /** Payload bytes echoed back per second. */
  readonly MBps: number;
  readonly lossRatio: number;
  /** One datagram in flight at a time. */
  readonly rttMs: PercentilesJson;
  readonly ratioToDirect?: number;
  readonly cpu: CpuJson;
}

/** The contract's `udp`: the first payload size's figures (64 bytes by default), and every size. */
export interface UdpJson extends UdpSizeJson {
  readonly bySize: UdpSizeJson[];
}

interface PathJson {
  /** Single-stream download (target to client): the direction most traffic through a proxy flows. */
  readonly throughputMBps: number;
  readonly throughput: Partial<Record<ThroughputKind, ThroughputJson>>;
  readonly connectionsPerSec: number;
  readonly connections: ConnectionsJson;
  readonly firstByteMs: PercentilesJson;
  readonly roundTripMs: PercentilesJson;
  readonly roundTripCpu: CpuJson;
  /** Set when a run had fewer than MIN_SAMPLES round trips. */
  readonly roundTripTooShort?: true;
  /** With --udp: null when the path has no UDP relay to measure, and then udpError says why. */
  readonly udp?: UdpJson | null;
  readonly udpError?: string;
}

export interface DirectJson extends PathJson {
  /** TCP connect alone: there is no SOCKS handshake on the direct path. */
  readonly connectMs: PercentilesJson;
}

export interface ResultJson extends PathJson {
  readonly proxy: string;
  readonly label: string;
  readonly ratioToDirect: number;
  /** From the TCP connect to the proxy's grant. */
  readonly handshakeMs: PercentilesJson;
}

export const throughputKinds: readonly ThroughputKind[] = ['upload', 'download', 'uploadStreams', 'downloadStreams'];

export function toJson(run: BenchRun): BenchJson {
  const [direct, ...proxies] = run.paths;
  if (!direct) throw new Error('bench ran no paths');
  const base = pathJson(direct, undefined);
  return {
    date: run.date,
    machine: run.machine,
    config: {
      streams: run.spec.streams,
      concurrency: run.spec.concurrency,
      bytes: run.spec.bytes ?? null,
      durationSeconds: run.spec.durationMs / 1000,
      messages: run.spec.messages,
      messageSize: run.spec.messageSize,
      repeat: run.spec.repeat,
      targets: run.targets,
    },
    direct: { ...base, connectMs: percentilesJson(direct.connections.map((sample) => sample.handshakeMs)) },
    results: proxies.map((samples) => {
      const own = pathJson(samples, base);
      const proxy = samples.path.proxy;
      return {
        proxy: proxy ? proxyUrl(proxy) : samples.path.name,
        label: samples.path.name,
        ...own,
        ratioToDirect: ratio(own.throughputMBps, base.throughputMBps),
        handshakeMs: percentilesJson(samples.connections.map((sample) => sample.handshakeMs)),
      };
    }),
  };
}

function pathJson(samples: PathSamples, direct: PathJson | undefined): PathJson {
  const throughput: Partial<Record<ThroughputKind, ThroughputJson>> = {};
  for (const kind of throughputKinds) {
    const runs = samples.throughput[kind];
    if (runs.length === 0) continue;
    const { median: MBps, min, max } = summarize(runs.map((run) => run.MBps));
    const baseline = direct?.throughput[kind]?.MBps;
    throughput[kind] = {
      MBps: round(MBps, 2), min: round(min, 2), max: round(max, 2),
      ...(baseline === undefined ? {} : { ratioToDirect: ratio(MBps, baseline) }),
      cpu: cpuJson(runs.map((run) => run.cpu)),
      ...flag(runs),
    };
  }
  const rate = summarize(samples.connections.map((sample) => sample.perSecond));
  const connections: ConnectionsJson = {
    perSec: round(rate.median, 1), min: round(rate.min, 1), max: round(rate.max, 1),
    ...(direct ? { ratioToDirect: ratio(rate.median, direct.connections.perSec) } : {}),
    connections: samples.connections.reduce((total, sample) => total + sample.connections, 0),
    failures: samples.connections.reduce((total, sample) => total + sample.failures, 0),
    cpu: cpuJson(samples.connections.map((sample) => sample.cpu)),
    ...flag(samples.connections),
  };
  return {
    throughputMBps: throughput.download?.MBps ?? NaN,
    throughput,
    connectionsPerSec: connections.perSec,
    connections,
    firstByteMs: percentilesJson(samples.connections.map((sample) => sample.firstByteMs)),
    roundTripMs: percentilesJson(samples.latency.map((sample) => sample.roundTripMs)),
    roundTripCpu: cpuJson(samples.latency.map((sample) => sample.cpu)),
    ...(samples.latency.some(tooShort) ? { roundTripTooShort: true as const } : {}),
    ...(samples.udp.size > 0 ? udpJson(samples, direct) : {}),
  };
}

function udpJson(samples: PathSamples, direct: PathJson | undefined): Pick<PathJson, 'udp' | 'udpError'> {
  const bySize: UdpSizeJson[] = [];
  for (const [payloadBytes, runs] of samples.udp) {
    const failed = runs.find((run) => 'error' in run);
    if (failed && 'error' in failed) return { udp: null, udpError: failed.error };
    const measured = runs.filter((run): run is Exclude<UdpSample, { error: string }> => !('error' in run));
    const rate = median(measured.map((run) => run.datagramsPerSec));
    const baseline = direct?.udp?.bySize.find((entry) => entry.payloadBytes === payloadBytes)?.datagramsPerSec;
    bySize.push({
      payloadBytes,
      datagramsPerSec: round(rate, 0),
      MBps: round(median(measured.map((run) => run.MBps)), 2),
      lossRatio: round(median(measured.map((run) => run.lossRatio)), 4),
      rttMs: percentilesJson(measured.map((run) => run.rttMs)),
      ...(baseline === undefined ? {} : { ratioToDirect: ratio(rate, baseline) }),
      cpu: cpuJson(measured.map((run) => run.cpu)),
    });
  }
  const [first] = bySize;
  return first ? { udp: { ...first, bySize } } : {};
}

function flag(runs: ReadonlyArray<Parameters<typeof tooShort>[0]>): { tooShort?: true } {
  return runs.some(tooShort) ? { tooShort: true } : {};
}

/** Each percentile is the median over the runs; max is the largest of all. */
function percentilesJson(runs: readonly Percentiles[]): PercentilesJson {
  return {
    p50: round(median(runs.map((run) => run.p50)), 3),
    p90: round(median(runs.map((run) => run.p90)), 3),
    p99: round(median(runs.map((run) => run.p99)), 3),
    max: round(Math.max(...runs.map((run) => run.max)), 3),
  };
}

function cpuJson(runs: readonly CpuShare[]): CpuJson {
  const of = (values: Array<number | undefined>): number | null => {
    const known = values.filter((value): value is number => value !== undefined);
    return known.length === 0 ? null : round(median(known), 0);
  };
  return {
    generator: of(runs.map((run) => run.generator)),
    targets: of(runs.map((run) => run.targets)),
    proxy: of(runs.map((run) => run.proxy)),
  };
}

/** The URL without the password; the user name stays: it says which account was measured. */
function proxyUrl(proxy: ProxyConfig): string {
  const url = describeProxy(proxy);
  return proxy.username === undefined ? url : url.replace('://', `://${encodeURIComponent(proxy.username)}@`);
}

function ratio(value: number, baseline: number): number {
  return round(value / baseline, 3);
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
