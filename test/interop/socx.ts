// Shared pieces of the interop suites: the BUILT executable (dist/socx, never the sources, so these
// tests check what users run), a `socx serve` launcher that reads the real port from the ready line,
// and small helpers for byte-exact comparisons and cleanup.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { run, startProcess, type RunResult } from '../support/process.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
const EXE = path.join(ROOT, 'dist', 'socx');

/** Absolute path of dist/socx; throws (never skips) when the build is missing. */
export function socxBinary(): string {
  try {
    accessSync(EXE, constants.X_OK);
  } catch {
    throw new Error(`${EXE} is missing or not executable: run npm run build first`);
  }
  return EXE;
}

export interface SocxServer {
  /** As printed in the ready line, without brackets for IPv6 ("::1"). */
  host: string;
  port: number;
  /** host:port as a URL authority ("[::1]:1080" for IPv6). */
  authority: string;
  stop(): Promise<void>;
  output(): string;
  /** Exit code once stopped (SIGTERM must give 0), null while running or when killed by a signal. */
  exitCode(): number | null;
  /** For signals (SIGTERM's drain, SIGKILL's crash). */
  readonly pid: number;
  /** Resolves once the process has exited. */
  exited(): Promise<void>;
}

// The first `listening on HOST:PORT` line; HOST is an IPv4, a bracketed IPv6 or a name.
const READY = /listening on (\[[^\]\s]+\]|[^\s:]+):(\d+)\r?\n/;

/**
 * Starts `dist/socx serve ARGS`. Listens on 127.0.0.1:0 unless ARGS has -l/--listen; a short --grace
 * unless ARGS sets one, so that stop() never waits out the 5 s default for a lingering relay.
 */
export async function startSocxServe(args: string[] = []): Promise<SocxServer> {
  const bin = socxBinary();
  const has = (...names: string[]) => args.some((a) => names.some((n) => a === n || a.startsWith(`${n}=`)));
  const full = [
    'serve',
    ...(has('-l', '--listen') ? [] : ['-l', '127.0.0.1:0']),
    ...(has('--grace') ? [] : ['--grace', '300']),
    ...args,
  ];
  const proc = await startProcess(bin, full, { readyPattern: READY, readyStream: 'stderr', timeoutMs: 10_000 });
  const match = READY.exec(proc.output());
  if (!match) {
    await proc.stop();
    throw new Error(`socx serve: no ready line in:\n${proc.output()}`);
  }
  const shown = match[1]!;
  const host = shown.startsWith('[') ? shown.slice(1, -1) : shown;
  const port = Number(match[2]);
  return {
    host,
    port,
    authority: `${shown}:${port}`,
    stop: proc.stop,
    output: proc.output,
    exitCode: () => proc.child.exitCode,
    pid: proc.pid,
    exited: () => (proc.child.exitCode !== null || proc.child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => { proc.child.once('exit', () => resolve()); })),
  };
}

/** Runs dist/socx to completion (SIGKILL at timeoutMs). */
export function runSocx(
  args: string[],
  opts: { input?: Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return run(socxBinary(), args, { ...opts, timeoutMs: opts.timeoutMs ?? 30_000 });
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Everything a failed assertion should show about a run. */
export function describeRun(r: RunResult, extra = ''): string {
  const out = r.stdout.length > 400 ? `<${r.stdout.length} bytes>` : JSON.stringify(r.stdout.toString());
  return `exit ${r.code} signal ${r.signal}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${out}\nstderr: ${r.stderr}${extra ? `\n${extra}` : ''}`;
}

/** Stop functions run in reverse order of registration, each attempted even if one throws. */
export class Cleanup {
  readonly #stops: Array<() => Promise<void>> = [];

  add<T extends { stop(): Promise<void> }>(thing: T): T {
    this.#stops.push(() => thing.stop());
    return thing;
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const stop of this.#stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}

/** Environment entries that would otherwise pick a proxy for `socx connect` from the caller's shell. */
export const NO_PROXY_ENV: NodeJS.ProcessEnv = { SOCX_PROXY: '', https_proxy: '', HTTPS_PROXY: '', ALL_PROXY: '', all_proxy: '' };

/** The contract's shape for every error: exactly one line on stderr, `socx: ...`, no stack trace. */
export function assertOneErrorLine(stderr: string, context = ''): void {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const why = `${context ? `${context}: ` : ''}stderr was ${JSON.stringify(stderr)}`;
  assert.equal(lines.length, 1, `expected one line on stderr; ${why}`);
  assert.match(lines[0]!, /^socx: \S/, why);
  assert.doesNotMatch(stderr, /^\s+at .+:\d+:\d+\)?$/m, `stack trace; ${why}`);
  assert.doesNotMatch(stderr, /\b[A-Z]\w*Error\b/, `raw error class name; ${why}`);
}

/** Waits (bounded) until a server's output matches; log lines are written when a connection ends,
 * which may be just after the client has exited. */
export async function waitForOutput(server: { output(): string }, pattern: RegExp, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(server.output())) {
    if (Date.now() >= deadline) {
      throw new Error(`no output matching ${pattern} after ${timeoutMs} ms; output was:\n${server.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface Interactive {
  child: ChildProcessWithoutNullStreams;
  stdout(): Buffer;
  stderr(): string;
  /** Resolves once stdout holds at least `bytes` bytes; rejects after timeoutMs or if the process ends first. */
  waitForStdout(bytes: number, timeoutMs: number): Promise<void>;
  /** Resolves with the exit code once the process has exited and its output is read; rejects after timeoutMs. */
  exited(timeoutMs: number): Promise<number | null>;
  /** SIGKILL by PID if still running. */
  kill(): void;
}

/** dist/socx with its stdin left open for the test to drive (run() always ends stdin at once). */
export function spawnSocx(args: string[], env: NodeJS.ProcessEnv = {}): Interactive {
  const child = spawn(socxBinary(), args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let outBytes = 0;
  let err = '';
  let closed = false;
  const changed = new Set<() => void>();
  const notify = () => { for (const f of changed) f(); };
  child.stdout.on('data', (b: Buffer) => { out.push(b); outBytes += b.length; notify(); });
  child.stderr.setEncoding('utf8').on('data', (t: string) => { err += t; });
  child.stdin.on('error', () => {});
  child.once('close', () => { closed = true; notify(); });
  const stdout = () => Buffer.concat(out);
  const describe = () => `stdout ${outBytes} bytes, stderr ${JSON.stringify(err)}`;
  const until = (done: () => boolean, failed: () => string | undefined, timeoutMs: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (done()) finish();
        else { const why = failed(); if (why) finish(new Error(`${why} (${describe()})`)); }
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${describe()})`)), timeoutMs);
      const finish = (e?: Error) => { clearTimeout(timer); changed.delete(check); e ? reject(e) : resolve(); };
      changed.add(check);
      check();
    });
  return {
    child,
    stdout,
    stderr: () => err,
    waitForStdout: (bytes, timeoutMs) =>
      until(() => outBytes >= bytes, () => (closed ? `socx exited with code ${child.exitCode}` : undefined), timeoutMs, `${bytes} bytes on stdout`),
    exited: async (timeoutMs) => {
      await until(() => closed, () => undefined, timeoutMs, 'socx to exit');
      return child.exitCode;
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try { process.kill(child.pid, 'SIGKILL'); } catch {}
      }
    },
  };
}
