import { describeError, SocxError } from '../errors.ts';
import type { ConnectionLoad } from './connection-load.ts';
import { measureConnectionRate } from './connection-rate.ts';
import { startCpuMeter, type CpuShare } from './cpu.ts';
import { measureRoundTrips } from './latency.ts';
import { pingPlan, type BenchPath } from './paths.ts';
import { percentiles, type Percentiles } from './stats.ts';
import { measureThroughput, type Direction } from './throughput.ts';
import { measureUdp, type UdpResult } from './udp.ts';

export interface RunSpec {
  /** Parallel connections in the multi-stream throughput runs; 1 skips them. */
  readonly streams: number;
  readonly concurrency: number;
  /** Bytes per throughput run, or undefined to run each for `durationMs`. */
  readonly bytes: number | undefined;
  readonly durationMs: number;
  readonly messages: number;
  readonly messageSize: number;
  readonly repeat: number;
  /** Limit on each connection and each step of a measurement. */
  readonly timeoutMs: number;
  /** Payload sizes of the UDP runs; empty: no UDP. */
  readonly udpSizes: readonly number[];
  /** Datagrams in flight in the UDP rate runs. */
  readonly udpWindow: number;
}

export type ThroughputKind = 'upload' | 'download' | 'uploadStreams' | 'downloadStreams';
export type MeasurementKind = ThroughputKind | 'connections' | 'latency' | 'udp';

export interface ThroughputSample { readonly MBps: number; readonly bytes: number; readonly seconds: number; readonly cpu: CpuShare }
export interface ConnectionSample {
  readonly perSecond: number;
  readonly connections: number;
  readonly failures: number;
  readonly handshakeMs: Percentiles;
  readonly firstByteMs: Percentiles;
  readonly cpu: CpuShare;
}
export interface LatencySample { readonly roundTripMs: Percentiles; readonly cpu: CpuShare }
/** A UDP run, or why the path has no UDP relay to measure (a proxy that refuses UDP ASSOCIATE). */
export type UdpSample = (UdpResult & { readonly cpu: CpuShare }) | { readonly error: string };

/** Below these a run says more about setup and timer resolution than about the path (a proxy "faster" than
 * direct): its figures are flagged, not shown as results. */
export const MIN_RUN_MS = 200;
export const MIN_SAMPLES = 100;

export function tooShort(sample: ThroughputSample | ConnectionSample | LatencySample): boolean {
  if ('MBps' in sample) return sample.seconds * 1000 < MIN_RUN_MS;
  if ('perSecond' in sample) return sample.connections < MIN_SAMPLES;
  return sample.roundTripMs.count < MIN_SAMPLES;
}

/** Every repetition of every measurement on one path, in the order they ran. */
export interface PathSamples {
  readonly path: BenchPath;
  readonly throughput: Record<ThroughputKind, ThroughputSample[]>;
  readonly connections: ConnectionSample[];
  readonly latency: LatencySample[];
  /** By payload size. */
  readonly udp: Map<number, UdpSample[]>;
}

/** Where a run is, for a progress line: `[3/11] download, 1 stream: socx serve — ~12 s left`. */
export interface Progress {
  /** 1-based. */
  readonly step: number;
  readonly steps: number;
  readonly title: string;
  readonly path: string;
  /** 1-based, of `repeat`. */
  readonly round: number;
  readonly repeat: number;
  /** A guess at the time left, this step included. */
  readonly remainingMs: number;
}

export function formatProgress(progress: Progress): string {
  const round = progress.repeat > 1 ? ` (${progress.round}/${progress.repeat})` : '';
  const left = Math.max(1, Math.round(progress.remainingMs / 1000));
  return `[${progress.step}/${progress.steps}] ${progress.title}: ${progress.path}${round} — ~${left} s left`;
}

export interface RunHooks {
  /** Called before each measurement with what is about to run. */
  readonly onProgress?: (progress: Progress) => void;
  readonly signal?: AbortSignal;
  /** PID of the targets' process, when they run in one of their own. */
  readonly targetsPid?: number | undefined;
  /** The connection-rate generator's processes; without them, its loops run in this process. */
  readonly connectionLoad?: ConnectionLoad | undefined;
}

const throughputKinds: Record<ThroughputKind, { direction: Direction; multi: boolean }> = {
  upload: { direction: 'upload', multi: false },
  download: { direction: 'download', multi: false },
  uploadStreams: { direction: 'upload', multi: true },
  downloadStreams: { direction: 'download', multi: true },
};

export interface PlannedMeasurement {
  readonly kind: MeasurementKind;
  readonly title: string;
  /** The payload size of a UDP run. */
  readonly size?: number;
}

/** The measurements in the order they run, and what the progress line calls them. */
export function measurementPlan(spec: RunSpec): PlannedMeasurement[] {
  const plan: PlannedMeasurement[] = [
    { kind: 'upload', title: 'upload, 1 stream' },
    { kind: 'download', title: 'download, 1 stream' },
  ];
  if (spec.streams > 1) {
    plan.push({ kind: 'uploadStreams', title: `upload, ${spec.streams} streams` }, { kind: 'downloadStreams', title: `download, ${spec.streams} streams` });
  }
  // Round trips before the connection storm: thousands of closing connections leave work behind (in the
  // kernel and the targets' garbage collector) that would show in the latency tail.
  plan.push({ kind: 'latency', title: `round trips of ${spec.messageSize} bytes` });
  for (const size of spec.udpSizes) plan.push({ kind: 'udp', title: `UDP, ${size}-byte datagrams`, size });
  plan.push({ kind: 'connections', title: `connection rate, ${spec.concurrency} concurrent` });
  return plan;
}

/** What a step of a kind takes before any has run: timed runs their duration, the others about this. */
const UNTIMED_GUESS_MS = 500;

/**
 * Runs each measurement on every path, path after path, before going on to the next measurement, so that
 * whatever else the machine is doing affects all paths alike; each repetition starts with a different path.
 */
export async function runMeasurements(paths: readonly BenchPath[], spec: RunSpec, hooks: RunHooks = {}): Promise<PathSamples[]> {
  const samples = paths.map((path): PathSamples => ({
    path,
    throughput: { upload: [], download: [], uploadStreams: [], downloadStreams: [] },
    connections: [],
    latency: [],
    udp: new Map(spec.udpSizes.map((size) => [size, []])),
  }));
  const plan = measurementPlan(spec);
  const steps = Array.from({ length: spec.repeat }, (_, round) => plan.flatMap((measurement) =>
    samples.map((_, i) => ({ measurement, round, entry: samples[(i + round) % samples.length]! })))).flat();
  // What each kind took so far, for the guess at the time left.
  const taken = new Map<MeasurementKind, { ms: number; count: number }>();
  const expectedMs = (kind: MeasurementKind): number => {
    const seen = taken.get(kind);
    if (seen) return seen.ms / seen.count;
    const timed = kind === 'connections' || kind === 'udp' || (kind !== 'latency' && spec.bytes === undefined);
    return timed ? spec.durationMs : UNTIMED_GUESS_MS;
  };
  for (const [index, { measurement, round, entry }] of steps.entries()) {
    if (hooks.signal?.aborted) throw new SocxError('aborted', 'cancelled');
    const { kind, title } = measurement;
    const remainingMs = steps.slice(index).reduce((total, step) => total + expectedMs(step.measurement.kind), 0);
    hooks.onProgress?.({ step: index + 1, steps: steps.length, title, path: entry.path.name, round: round + 1, repeat: spec.repeat, remainingMs });
    const begun = performance.now();
    await measureOne(entry, measurement, spec, hooks);
    const seen = taken.get(kind) ?? { ms: 0, count: 0 };
    taken.set(kind, { ms: seen.ms + performance.now() - begun, count: seen.count + 1 });
  }
  return samples;
}

async function measureOne(entry: PathSamples, { kind, size }: PlannedMeasurement, spec: RunSpec, hooks: RunHooks): Promise<void> {
  const { path } = entry;
  if (kind === 'udp') return measureUdpOn(entry, size ?? 0, spec, hooks);
  const { signal, targetsPid, connectionLoad } = hooks;
  const { timeoutMs } = spec;
  const meter = startCpuMeter({ targets: targetsPid, proxy: path.pid, generators: connectionLoad?.pids });
  if (kind === 'latency') {
    const roundTrips = await measureRoundTrips(path, { messages: spec.messages, messageSize: spec.messageSize, timeoutMs }, signal).catch((error: unknown) => {
      throw failedMeasurement(path, 'round trips', error);
    });
    entry.latency.push({ roundTripMs: percentiles(roundTrips), cpu: meter.stop() });
  } else if (kind === 'connections') {
    const rateSpec = { concurrency: spec.concurrency, durationMs: spec.durationMs, timeoutMs };
    const result = await (connectionLoad ? connectionLoad.measure(path, rateSpec, signal) : measureConnectionRate(pingPlan(path.proxy, path.pingTarget), rateSpec, signal));
    if (signal?.aborted) throw new SocxError('aborted', 'cancelled');
    if (result.connections === 0) throw failedMeasurement(path, 'connection rate', new SocxError('network', result.firstError ?? 'no connection completed'));
    entry.connections.push({
      perSecond: result.perSecond,
      connections: result.connections,
      failures: result.failures,
      handshakeMs: percentiles(result.handshakeMs),
      firstByteMs: percentiles(result.firstByteMs),
      cpu: meter.stop(),
    });
  } else {
    const { direction, multi } = throughputKinds[kind];
    const result = await measureThroughput(path, { direction, streams: multi ? spec.streams : 1, bytes: spec.bytes, durationMs: spec.durationMs, timeoutMs }, signal).catch((error: unknown) => {
      throw failedMeasurement(path, direction, error);
    });
    entry.throughput[kind].push({ ...result, cpu: meter.stop() });
  }
}

/** Refusals of UDP ASSOCIATE and relays that never answer are results of their own: that proxy has no UDP
 * relay to measure, and the rest of the run goes on. */
const NO_UDP_RELAY = new Set(['request-rejected', 'no-acceptable-method', 'protocol', 'timeout', 'proxy-closed']);

async function measureUdpOn(entry: PathSamples, size: number, spec: RunSpec, hooks: RunHooks): Promise<void> {
  const { path } = entry;
  const runs = entry.udp.get(size)!;
  let channel;
  try {
    channel = await path.openUdp(hooks.signal);
  } catch (error) {
    if (error instanceof SocxError && NO_UDP_RELAY.has(error.code)) return void runs.push({ error: describeError(error) });
    throw failedMeasurement(path, 'UDP', error);
  }
  const meter = startCpuMeter({ targets: hooks.targetsPid, proxy: path.pid });
  try {
    const result = await measureUdp(channel, { payloadBytes: size, durationMs: spec.durationMs, window: spec.udpWindow, roundTrips: spec.messages }, hooks.signal);
    runs.push(result.received === 0 ? { error: 'no datagram came back through the relay' } : { ...result, cpu: meter.stop() });
  } finally {
    channel.close();
  }
}

/** Failures keep their code (auth, refusal, unreachable: the exit code depends on it) and say where they happened. */
function failedMeasurement(path: BenchPath, what: string, error: unknown): unknown {
  if (error instanceof SocxError) {
    const { code, phase, reply } = error;
    return new SocxError(code, `${what} through ${path.name}: ${error.message}`, { phase, ...(reply ? { reply } : {}), cause: error });
  }
  const why = error instanceof Error ? error.message : String(error);
  return new SocxError('network', `${what} through ${path.name} failed: ${why}`, { cause: error });
}
