import { SocxError } from '../errors.ts';
import { measureConnectionRate } from './connection-rate.ts';
import { startCpuMeter, type CpuShare } from './cpu.ts';
import { measureRoundTrips } from './latency.ts';
import type { BenchPath } from './paths.ts';
import { percentiles, type Percentiles } from './stats.ts';
import { measureThroughput, type Direction } from './throughput.ts';

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
}

export type ThroughputKind = 'upload' | 'download' | 'uploadStreams' | 'downloadStreams';
export type MeasurementKind = ThroughputKind | 'connections' | 'latency';

export interface ThroughputSample { readonly MBps: number; readonly bytes: number; readonly seconds: number; readonly cpu: CpuShare }
export interface ConnectionSample {
  readonly perSecond: number;
  readonly connections: number;
  readonly failures: number;
  readonly handshakeMs: Percentiles;
  readonly firstByteMs: Percentiles;
  readonly cpu: CpuShare;
}
export interface LatencySample { readonly roundTripMs: Percentiles }

/** Every repetition of every measurement on one path, in the order they ran. */
export interface PathSamples {
  readonly path: BenchPath;
  readonly throughput: Record<ThroughputKind, ThroughputSample[]>;
  readonly connections: ConnectionSample[];
  readonly latency: LatencySample[];
}

export interface RunHooks {
  /** Called before each measurement with what is about to run, for a spinner. */
  readonly onProgress?: (text: string) => void;
  readonly signal?: AbortSignal;
  /** PID of the targets' process, when they run in one of their own. */
  readonly targetsPid?: number | undefined;
}

const throughputKinds: Record<ThroughputKind, { direction: Direction; multi: boolean }> = {
  upload: { direction: 'upload', multi: false },
  download: { direction: 'download', multi: false },
  uploadStreams: { direction: 'upload', multi: true },
  downloadStreams: { direction: 'download', multi: true },
};

/** The measurements in the order they run, and what the progress line calls them. */
export function measurementPlan(spec: RunSpec): Array<{ kind: MeasurementKind; title: string }> {
  const plan: Array<{ kind: MeasurementKind; title: string }> = [
    { kind: 'upload', title: 'upload, 1 stream' },
    { kind: 'download', title: 'download, 1 stream' },
  ];
  if (spec.streams > 1) {
    plan.push({ kind: 'uploadStreams', title: `upload, ${spec.streams} streams` }, { kind: 'downloadStreams', title: `download, ${spec.streams} streams` });
  }
  // Round trips before the connection storm: thousands of closing connections leave work behind (in the
  // kernel and the targets' garbage collector) that would show in the latency tail.
  plan.push({ kind: 'latency', title: `round trips of ${spec.messageSize} bytes` }, { kind: 'connections', title: `connection rate, ${spec.concurrency} concurrent` });
  return plan;
}

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
  }));
  const plan = measurementPlan(spec);
  for (let round = 0; round < spec.repeat; round++) {
    for (const { kind, title } of plan) {
      for (let i = 0; i < samples.length; i++) {
        const entry = samples[(i + round) % samples.length]!;
        if (hooks.signal?.aborted) throw new SocxError('aborted', 'cancelled');
        const repeat = spec.repeat > 1 ? ` (${round + 1}/${spec.repeat})` : '';
        hooks.onProgress?.(`${title}: ${entry.path.name}${repeat}`);
        await measureOne(entry, kind, spec, hooks.targetsPid);
      }
    }
  }
  return samples;
}

async function measureOne(entry: PathSamples, kind: MeasurementKind, spec: RunSpec, targetsPid: number | undefined): Promise<void> {
  const { path } = entry;
  if (kind === 'latency') {
    const roundTrips = await measureRoundTrips(path, { messages: spec.messages, messageSize: spec.messageSize }).catch((error: unknown) => {
      throw failedMeasurement(path, 'round trips', error);
    });
    entry.latency.push({ roundTripMs: percentiles(roundTrips) });
    return;
  }
  // Round trips take too little time for /proc's 10 ms ticks; the other runs are metered.
  const meter = startCpuMeter({ targets: targetsPid, proxy: path.pid });
  if (kind === 'connections') {
    const result = await measureConnectionRate(path, { concurrency: spec.concurrency, durationMs: spec.durationMs });
    if (result.connections === 0) throw failedMeasurement(path, 'connection rate', result.firstError);
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
    const result = await measureThroughput(path, { direction, streams: multi ? spec.streams : 1, bytes: spec.bytes, durationMs: spec.durationMs }).catch((error: unknown) => {
      throw failedMeasurement(path, direction, error);
    });
    entry.throughput[kind].push({ ...result, cpu: meter.stop() });
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
