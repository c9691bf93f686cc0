// Helpers for tests that drive external processes. Everything is spawned
// without a shell and stopped by PID, never by name, so parallel test runs
// (and other engineers' processes) are never hit by accident.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPid } from '../../lib/bench/listener-pid.ts';

export interface StartOptions {
  /** Added to process.env (not a replacement). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Ready once this matches the captured text of readyStream (default: stdout+stderr). */
  readyPattern?: RegExp;
  readyStream?: 'stdout' | 'stderr';
  /** Ready once this loopback/host port accepts TCP connections. */
  readyPort?: number;
  readyHost?: string;
  timeoutMs: number;
}

export interface Started {
  child: ChildProcess;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

// Long-running peers (dante logging every session) must not grow memory without bound.
const OUTPUT_CAP = 256 * 1024;

/** Absolute path of an executable, or a clear error naming the Debian package to install. */
export function requireBinary(name: string, aptPackage = name): string {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {}
  }
  throw new Error(
    `required binary "${name}" not found (PATH=${process.env.PATH ?? ''}); ` +
      `install it with: apt-get install ${aptPackage} (see .ci/run)`,
  );
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function killByPid(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || hasExited(child)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {}
  if (await waitExit(child, 2000)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
  if (!(await waitExit(child, 5000))) throw new Error(`pid ${pid} survived SIGKILL`);
}

export async function startProcess(cmd: string, args: string[], opts: StartOptions): Promise<Started> {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let all = '';
  const streams = { stdout: '', stderr: '' };
  const output = () => all;
  const stop = () => killByPid(child);
  const describe = `${cmd} ${args.join(' ')}`;

  let settle: (err?: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  const checkPattern = () => {
    if (!opts.readyPattern) return;
    const text = opts.readyStream ? streams[opts.readyStream] : all;
    if (opts.readyPattern.test(text)) settle();
  };
  for (const name of ['stdout', 'stderr'] as const) {
    child[name]!.setEncoding('utf8');
    child[name]!.on('data', (chunk: string) => {
      all = (all + chunk).slice(-OUTPUT_CAP);
      streams[name] = (streams[name] + chunk).slice(-OUTPUT_CAP);
      checkPattern();
    });
  }
  child.once('error', (err) =>
    settle(new Error(`failed to start ${describe}: ${err.message}\n--- output ---\n${all}`)),
  );
  // Prefer 'close' so the error carries everything printed, but don't hang on
  // it: a surviving grandchild can hold the pipes open.
  const exitedEarly = () =>
    settle(
      new Error(`${describe} exited early (code ${child.exitCode}, signal ${child.signalCode})\n--- output ---\n${all}`),
    );
  child.once('close', exitedEarly);
  child.once('exit', () => setTimeout(exitedEarly, 250).unref());

  const abort = new AbortController();
  if (opts.readyPort !== undefined) {
    waitForPort(opts.readyHost ?? '127.0.0.1', opts.readyPort, opts.timeoutMs, abort.signal).then(
      () => settle(),
      (err: Error) => settle(new Error(`${describe}: ${err.message}\n--- output ---\n${all}`)),
    );
  } else if (!opts.readyPattern) {
    child.once('spawn', () => settle());
  }
  const timer = setTimeout(
    () => settle(new Error(`${describe} not ready after ${opts.timeoutMs} ms\n--- output ---\n${all}`)),
    opts.timeoutMs,
  );

  try {
    await ready;
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return { child, pid: child.pid!, output, stop };
}

/** Resolves once host:port accepts a TCP connection. */
export async function waitForPort(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (signal?.aborted) throw new Error(`waitForPort ${host}:${port} aborted`);
    if (Date.now() >= deadline) throw new Error(`${host}:${port} not accepting connections after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * A port that was free a moment ago. Racy (someone may grab it before the
 * caller binds), so only for peers that cannot listen on port 0 themselves.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
}

/** Runs to completion; SIGKILLs the child at timeoutMs (then timedOut is true). */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: Buffer; timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    // The child may exit without reading its stdin; EPIPE here is not our failure.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {}
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`failed to run ${cmd}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr, timedOut });
    });
  });
}

/** Whether `pid` is a live process (a signal 0 reaches it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The children of `pid`, from /proc (Linux). */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name) && parentPid(Number(name)) === pid).map(Number);
}
