import { cpus, release, totalmem } from 'node:os';
import type { ProxyConfig } from '../client/proxy-url.ts';
import { SocxError } from '../errors.ts';
import { generatorCount, startConnectionLoad } from './connection-load.ts';
import { isLoopback } from '../server/listen-address.ts';
import { findListenerPid } from './listener-pid.ts';
import { directPath, proxyPath, type BenchPath } from './paths.ts';
import { startServe, startTargetsProcess, type ChildHandle, type SelfCommand } from './processes.ts';
import { formatProgress, runMeasurements, type PathSamples, type Progress, type RunSpec } from './runner.ts';
import { startTargets, type TargetPorts } from './targets.ts';

export interface ProxyUnderTest {
  readonly proxy: ProxyConfig;
  readonly label: string | undefined;
  /** The proxy's PID, to report its CPU use (Linux); found from the port when the proxy is on loopback. */
  readonly pid: number | undefined;
}

export interface BenchOptions extends RunSpec {
  /** Empty: start `socx serve` and measure it. */
  readonly proxies: readonly ProxyUnderTest[];
  /** What to call our own serve when bench starts it. */
  readonly serveLabel: string | undefined;
  /** How to start `socx serve` and the targets' process. */
  readonly self: SelfCommand;
  /** Run the sink, source and echo in this process (to measure what a separate process buys). */
  readonly inProcessTargets: boolean;
}

export interface BenchHooks {
  /** What bench is doing, as a line of text: setting up, then each measurement (see formatProgress). */
  readonly onProgress?: (text: string) => void;
  readonly signal?: AbortSignal;
}

export interface MachineInfo {
  readonly cpus: number;
  readonly model: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
}

export interface BenchRun {
  readonly date: string;
  readonly machine: MachineInfo;
  readonly spec: RunSpec;
  readonly targets: 'process' | 'in-process';
  /** [direct, ...proxies]. */
  readonly paths: PathSamples[];
}

export async function runBench(options: BenchOptions, hooks: BenchHooks = {}): Promise<BenchRun> {
  const children: ChildHandle[] = [];
  const stopChildren = (): Promise<void> => Promise.all(children.map((child) => child.stop())).then(() => {});
  // On abort, stopping the targets at once fails whatever is running instead of waiting for it to finish.
  const onAbort = (): void => void stopChildren();
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  let inProcess: (TargetPorts & { close(): Promise<void> }) | undefined;
  try {
    hooks.onProgress?.('starting the targets');
    let targets: TargetPorts & { pid?: number };
    if (options.inProcessTargets) {
      targets = inProcess = await startTargets();
    } else {
      const child = await startTargetsProcess(options.self);
      children.push(child);
      targets = child;
    }
    const proxies = [...options.proxies];
    if (proxies.length === 0) {
      hooks.onProgress?.('starting socx serve');
      const serve = await startServe(options.self);
      children.push(serve);
      proxies.push({ proxy: ownServe(serve), label: options.serveLabel ?? 'socx serve', pid: serve.pid });
    }
    const paths: BenchPath[] = [
      directPath(targets, options.timeoutMs),
      ...proxies.map(({ proxy, label, pid }) => proxyPath(targets, proxy, { name: label, pid: pid ?? localPid(proxy), timeoutMs: options.timeoutMs })),
    ];
    for (const path of paths.slice(1)) {
      hooks.onProgress?.(`checking ${path.name}`);
      await preflight(path, hooks.signal);
    }
    hooks.onProgress?.('starting the connection-rate generators');
    const connectionLoad = await startConnectionLoad(options.self, generatorCount(options.concurrency), children);
    const onProgress = (progress: Progress): void => hooks.onProgress?.(formatProgress(progress));
    const samples = await runMeasurements(paths, options, { onProgress, signal: hooks.signal, targetsPid: targets.pid, connectionLoad });
    return { date: new Date().toISOString(), machine: machineInfo(), spec: options, targets: options.inProcessTargets ? 'in-process' : 'process', paths: samples };
  } catch (error) {
    if (hooks.signal?.aborted) throw new SocxError('aborted', 'cancelled');
    throw error;
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await stopChildren();
    await inProcess?.close();
  }
}

function ownServe({ host, port }: { host: string; port: number }): ProxyConfig {
  return { kind: 'socks', version: 5, remoteDns: true, host, port, username: undefined, password: undefined };
}

/** A proxy on this machine: its process, found by its listening port, so that its CPU use can be told. */
function localPid(proxy: ProxyConfig): number | undefined {
  return isLoopback(proxy.host) ? findListenerPid(proxy.port) : undefined;
}

/** One connection through the proxy before anything is measured: an unreachable proxy, bad credentials or a
 * refusal fail here, with the error (and exit code) they deserve. */
async function preflight(path: BenchPath, signal: AbortSignal | undefined): Promise<void> {
  const { socket } = await path.open('echo', signal);
  socket.destroy();
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    model: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${process.platform} ${release()}`,
  };
}
