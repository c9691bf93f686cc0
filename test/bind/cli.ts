/** The built executable (dist/socx, what users run) as `serve` and as `bind`, with stdin held open so a test
 * decides when to half-close, and the `bound` / `peer` status lines parsed from stderr. Processes are
 * stopped by PID, every wait has a limit. */

import { spawn, type ChildProcess } from 'node:child_process';
import { run, startProcess, type RunResult } from '../support/process.ts';
import { NO_PROXY_ENV, socxBinary } from '../interop/socx.ts';

export { socxBinary };
import { deferred, withTimeout } from '../helpers/net.ts';

/** No proxy from the caller's shell may leak into a test. */
const ENV: NodeJS.ProcessEnv = { ...NO_PROXY_ENV, NO_COLOR: '1' };

export interface Served {
  readonly host: string;
  readonly port: number;
  /** The proxy URL authority: host:port, IPv6 in brackets. */
  readonly authority: string;
  output(): string;
  stop(): Promise<void>;
}

const READY = /listening on (\[[^\]\s]+\]|[^\s:]+):(\d+)/;

/** `socx serve -l HOST:0 --grace 200 ARGS`, ready once it prints its listening line. */
export async function startServe(host: string, args: string[] = []): Promise<Served> {
  const listen = host.includes(':') ? `[${host}]:0` : `${host}:0`;
  const proc = await startProcess(socxBinary(), ['serve', '-l', listen, '--grace', '200', ...args], {
    readyPattern: READY, readyStream: 'stderr', timeoutMs: 10_000, env: ENV,
  });
  const match = READY.exec(proc.output());
  if (!match?.[1] || !match[2]) {
    await proc.stop();
    throw new Error(`no listening line in: ${proc.output()}`);
  }
  return { host, port: Number(match[2]), authority: `${match[1]}:${match[2]}`, output: proc.output, stop: proc.stop };
}

/** Waits (bounded) until the server's log matches: its line for a connection comes when that one ends. */
export async function waitForLog(served: Served, pattern: RegExp, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(served.output())) {
    if (Date.now() >= deadline) throw new Error(`no log line matching ${pattern} in:\n${served.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface Endpoint { readonly host: string; readonly port: number }

export interface BindProcess {
  readonly child: ChildProcess;
  /** Waits for the `bound HOST:PORT` (or `peer HOST:PORT`) line on stderr. */
  line(event: 'bound' | 'peer', timeoutMs?: number): Promise<Endpoint>;
  stdout(): Buffer;
  stderr(): string;
  /** Resolves with the exit code once the process has exited and its output is read. */
  readonly exit: Promise<number | null>;
  stop(): void;
}

/** `bound HOST:PORT`, or with --json `{"event":"bound","host":"HOST","port":PORT}`. */
const STATUS = (event: string): RegExp[] => [
  new RegExp(`${event} (\\[[^\\]\\s]+\\]|[^\\s:]+):(\\d+)`),
  new RegExp(`"event":"${event}","host":"([^"]+)","port":(\\d+)`),
];

/** `socx bind ARGS` with stdin a pipe the test controls. */
export function startBind(args: string[]): BindProcess {
  const child = spawn(socxBinary(), ['bind', ...args], { env: { ...process.env, ...ENV }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  const waiters = new Map<string, ReturnType<typeof deferred<Endpoint>>>([['bound', deferred<Endpoint>()], ['peer', deferred<Endpoint>()]]);
  const exit = deferred<number | null>();
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    err += chunk;
    for (const [event, waiter] of waiters) {
      const match = STATUS(event).map((pattern) => pattern.exec(err)).find((found) => found !== null);
      if (match?.[1] && match[2]) waiter.resolve({ host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2]) });
    }
  });
  child.stdin.on('error', () => {});
  child.once('close', (code) => {
    for (const waiter of waiters.values()) waiter.reject(new Error(`socx bind exited (${code}) before the line; stderr: ${err}`));
    exit.resolve(code);
  });
  // Either line may legitimately never come (a refused BIND); a test awaits the ones it expects.
  for (const waiter of waiters.values()) waiter.promise.catch(() => {});
  return {
    child, exit: exit.promise,
    line: (event, timeoutMs = 5000) =>
      withTimeout(waiters.get(event)?.promise ?? Promise.reject(new Error(event)), timeoutMs, `the "${event}" line (stderr so far: ${err})`),
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    stop: () => { if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); },
  };
}

export async function exitOf(bind: BindProcess, timeoutMs = 10_000): Promise<number | null> {
  return withTimeout(bind.exit, timeoutMs, `socx bind to exit (stderr: ${bind.stderr()})`);
}

/** Runs `socx ARGS` to completion. */
export function runSocx(args: string[], timeoutMs = 15_000): Promise<RunResult> {
  return run(socxBinary(), args, { timeoutMs, env: ENV });
}
