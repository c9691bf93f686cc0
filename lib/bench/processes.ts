import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { SocxError } from '../errors.ts';
import { targetPorts, type TargetPorts } from './targets.ts';

/** How to run this same program again: `[file, ...args]` before the subcommand. In the single executable
 * that is the executable alone; from the bundle or the sources, node and the script. */
export interface SelfCommand {
  readonly file: string;
  readonly args: readonly string[];
}

/** A process bench started and must stop. */
export interface ChildHandle {
  readonly pid: number;
  stop(): Promise<void>;
}

/** The environment variable that makes `socx bench` run the loopback targets instead (see startTargetsProcess). */
export const TARGETS_ROLE_ENV = 'SOCX_BENCH_ROLE';
const START_TIMEOUT_MS = 15_000;
// socx serve (--grace 0) and the targets exit at once on SIGTERM; anything slower is hung.
const STOP_TIMEOUT_MS = 500;

/**
 * `socx serve` on a free loopback port, in its own process: the load generator and the server must not share
 * an event loop (or a core's worth of CPU). Resolves once its `listening on HOST:PORT` line is out.
 */
export async function startServe(self: SelfCommand): Promise<ChildHandle & { host: string; port: number }> {
  const child = spawn(self.file, [...self.args, 'serve', '--listen', '127.0.0.1:0', '--quiet', '--grace', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: childEnv(),
  });
  const line = await firstLine(child, 'stderr', /listening on (\S+):(\d+)/, 'socx serve');
  const [, host = '', port = ''] = line.match;
  return { ...handle(child), host, port: Number(port) };
}

/** The targets in a child process (`socx bench` with SOCX_BENCH_ROLE=targets), so that the sink and the source
 * do not share the generator's event loop. It prints its ports as one JSON line and exits when its stdin
 * closes, so it cannot outlive bench. */
export async function startTargetsProcess(self: SelfCommand): Promise<ChildHandle & TargetPorts> {
  const child = spawn(self.file, [...self.args, 'bench'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...childEnv(), [TARGETS_ROLE_ENV]: 'targets' },
  });
  const { text } = await firstLine(child, 'stdout', /^\{.*\}$/, 'bench targets');
  return { ...handle(child), ...targetPorts(JSON.parse(text) as TargetPorts) };
}

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[TARGETS_ROLE_ENV];
  return env;
}

/** Waits for the first line of `stream` that matches `expected` (a pattern, or the whole line), within a time
 * limit; fails if the child exits first. Resolves with the stream's lines too, for whoever reads on. */
export function firstLine(child: ChildProcess, stream: 'stdout' | 'stderr', expected: RegExp | string, what: string): Promise<{ text: string; match: readonly string[]; lines: Interface }> {
  const output = child[stream];
  if (!output) throw new Error(`${what}: no ${stream} pipe`);
  const seen: string[] = [];
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: output });
    const fail = (why: string): void => {
      clearTimeout(timer);
      lines.close();
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
      const said = seen.slice(-3).join(' / ');
      reject(new SocxError('network', `cannot start ${what}: ${why}${said ? `: ${said}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.once('error', (error) => fail(error.message));
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => fail(`exited with ${code ?? signal}`);
    child.once('exit', onExit);
    lines.on('line', (text) => {
      const match = typeof expected === 'string' ? (text === expected ? [text] : null) : text.match(expected);
      if (!match) return void seen.push(text);
      clearTimeout(timer);
      child.off('exit', onExit);
      // Later output still has to be read, or a chatty child would block on a full pipe.
      lines.removeAllListeners('line');
      lines.on('line', () => {});
      resolve({ text, match, lines });
    });
  });
}

/** Every child bench started and that has not exited, for killChildrenNow. */
const live = new Set<ChildProcess>();

/** SIGKILL, by PID, every child bench started that still runs: the last resort when bench must be gone
 * within a second of Ctrl-C and cannot wait for them to stop on their own. */
export function killChildrenNow(): void {
  for (const child of live) child.kill('SIGKILL');
}

export function handle(child: ChildProcess): ChildHandle {
  const pid = child.pid ?? 0;
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stopping: Promise<void> | undefined;
  return {
    pid,
    stop: () => (stopping ??= stopChild(child)),
  };
}

/** SIGTERM by PID (and the end of its stdin), then SIGKILL if it lingers. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const lingered = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS); }),
  ]);
  clearTimeout(timer);
  if (lingered) {
    child.kill('SIGKILL');
    await exited;
  }
}
