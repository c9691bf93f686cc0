import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import type { ProxyConfig } from '../client/proxy-url.ts';
import { cpuBudget } from '../cpu-budget.ts';
import { SocxError } from '../errors.ts';
import { measureConnectionRate, type ConnectionRateResult, type ConnectionRateSpec } from './connection-rate.ts';
import { pingPlan, type BenchPath } from './paths.ts';
import { firstLine, handle, TARGETS_ROLE_ENV, type ChildHandle, type SelfCommand } from './processes.ts';

/**
 * The connection-rate generator as one process per core, each running its share of the concurrent loops.
 * With one event loop, the loops' connections come back to the proxy in bursts: an event-loop proxy (socx
 * serve) then accepts several per wake-up, and a thread-per-connection one (microsocks) loses CPU to the
 * busier generator. Measured against socksload's C loop in the same run, microsocks/socx came out 0.86-0.96
 * with one loop, 1.32-1.44 with two processes, and ~1.5 under socksload.
 */
export interface ConnectionLoad {
  /** The generator processes, whose CPU is the generator's. */
  readonly pids: readonly number[];
  measure(path: BenchPath, spec: ConnectionRateSpec, signal?: AbortSignal): Promise<ConnectionRateResult>;
}

/** What a generator process is asked to run: plain data, since the handshake script is rebuilt there. */
interface Job {
  readonly proxy: ProxyConfig | undefined;
  readonly target: { readonly host: string; readonly port: number };
  readonly spec: ConnectionRateSpec;
}

/** SOCX_BENCH_ROLE's value for a generator process. */
export const CONNECTIONS_ROLE = 'connections';
const READY = '{"ready":true}';

export function generatorCount(concurrency: number): number {
  return Math.max(1, Math.min(cpuBudget(), concurrency));
}

interface Generator {
  readonly child: ChildProcess;
  readonly lines: Interface;
}

export async function startConnectionLoad(self: SelfCommand, count: number, children: ChildHandle[]): Promise<ConnectionLoad> {
  const generators: Generator[] = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(self.file, [...self.args, 'bench'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, [TARGETS_ROLE_ENV]: CONNECTIONS_ROLE } });
    children.push(handle(child));
    const { lines } = await firstLine(child, 'stdout', READY, 'a bench generator');
    generators.push({ child, lines });
  }
  return {
    pids: generators.map(({ child }) => child.pid ?? 0),
    measure: async (path, spec, signal) => {
      const shares = split(spec.concurrency, generators.length);
      const running = generators.flatMap((generator, i) => shares[i]! === 0 ? [] : [run(generator, { proxy: path.proxy, target: path.pingTarget, spec: { ...spec, concurrency: shares[i]! } }, signal)]);
      return merge(await Promise.all(running));
    },
  };
}

/** `total` loops over `parts` processes, as evenly as they go. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

function run({ child, lines }: Generator, job: Job, signal: AbortSignal | undefined): Promise<ConnectionRateResult> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      lines.off('line', onLine);
      child.off('exit', onExit);
      signal?.removeEventListener('abort', onAbort);
    };
    const onLine = (text: string): void => {
      done();
      resolve(JSON.parse(text) as ConnectionRateResult);
    };
    const onExit = (): void => {
      done();
      reject(new SocxError('network', 'a bench generator process exited during the connection-rate run'));
    };
    const onAbort = (): void => {
      done();
      reject(new SocxError('aborted', 'cancelled'));
    };
    lines.once('line', onLine);
    child.once('exit', onExit);
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdin!.write(`${JSON.stringify(job)}\n`);
  });
}

function merge(results: readonly ConnectionRateResult[]): ConnectionRateResult {
  const sum = (pick: (result: ConnectionRateResult) => number): number => results.reduce((total, result) => total + pick(result), 0);
  return {
    connections: sum((result) => result.connections),
    failures: sum((result) => result.failures),
    timeouts: sum((result) => result.timeouts),
    seconds: Math.max(...results.map((result) => result.seconds)),
    perSecond: sum((result) => result.perSecond),
    handshakeMs: results.flatMap((result) => result.handshakeMs),
    firstByteMs: results.flatMap((result) => result.firstByteMs),
    firstError: results.find((result) => result.firstError !== undefined)?.firstError,
  };
}

/** `socx bench` as a generator process: one job a line on stdin, one result a line on stdout, until stdin ends. */
export async function serveConnectionLoad(): Promise<number> {
  process.stdout.write(`${READY}\n`);
  const input = createInterface({ input: process.stdin });
  process.once('SIGTERM', () => input.close());
  for await (const line of input) {
    const job = JSON.parse(line) as Job;
    const result = await measureConnectionRate(pingPlan(job.proxy, job.target), job.spec);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  return 0;
}
