/** dist/socx serve as a child process with its pid (for signals) and helpers to log in through it. */
import path from 'node:path';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { toAddress } from '../../lib/codec/address.ts';
import { SocxError } from '../../lib/errors.ts';
import { ROOT, socxBinary, waitForOutput } from '../interop/socx.ts';
import { startProcess, type Started } from '../support/process.ts';

const READY = /listening on (\[[^\]\s]+\]|[^\s:]+):(\d+)\r?\n/;

export interface ServeProcess extends Started {
  readonly port: number;
  /** Sends a signal and waits until the output holds `pattern` a `count`-th time. */
  signal(signal: NodeJS.Signals, pattern: RegExp, count?: number): Promise<void>;
  /** Sends SIGUSR1 until a status shows `pattern` (what the server counts may lag the client by a moment). */
  statusUntil(pattern: RegExp): Promise<string>;
  /** Waits until the start lines are out (the ready line comes first; the rest follows). */
  started(): Promise<void>;
}

/** The single executable, or the bundle run by this node (`node dist/socx.cjs`). */
export type Program = 'sea' | 'bundle';

export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}, program: Program = 'sea'): Promise<ServeProcess> {
  const [file, ...first] = program === 'sea' ? [socxBinary()] : [process.execPath, path.join(ROOT, 'dist', 'socx.cjs')];
  // A short grace unless the test sets one, so that stop() does not wait out the 5 s default.
  const grace = args.some((arg) => arg === '--grace' || arg.startsWith('--grace=')) ? [] : ['--grace', '200ms'];
  const proc = await startProcess(file!, [...first, 'serve', ...grace, ...args], { readyPattern: READY, readyStream: 'stderr', timeoutMs: 15_000, env });
  const port = Number(READY.exec(proc.output())?.[2]);
  const signal = async (name: NodeJS.Signals, pattern: RegExp, count = 1): Promise<void> => {
    process.kill(proc.pid, name);
    const global = new RegExp(pattern.source, 'g');
    try {
      await waitForOutput({ output: () => ((proc.output().match(global)?.length ?? 0) >= count ? 'yes' : '') }, /yes/, 10_000);
    } catch {
      throw new Error(`after ${name}, no ${pattern} in:\n${proc.output()}`);
    }
  };
  const statusUntil = async (pattern: RegExp): Promise<string> => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const from = proc.output().length;
      await signal('SIGUSR1', /status: up/, (proc.output().match(/status: up/g)?.length ?? 0) + 1);
      await waitForOutput({ output: () => proc.output().slice(from) }, /top clients:|clients: none connected/, 5000);
      const status = proc.output().slice(proc.output().indexOf('socx: status: up', from));
      if (pattern.test(status)) return status;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no status matching ${pattern} in:\n${proc.output()}`);
  };
  const started = (): Promise<void> => waitForOutput(proc, /proxychains4: .*\n/, 5000);
  return { ...proc, port, signal, statusUntil, started };
}

/** CONNECT through the server as user:password: 'ok', or the error code ('auth-failed', …). */
export async function login(port: number, userPass: string, target: { host: string; port: number }): Promise<string> {
  try {
    const session = await openSession('connect', toAddress(target.host, target.port), { proxy: parseProxyUrl(`socks5h://${userPass}@127.0.0.1:${port}`), timeoutMs: 10_000 });
    session.socket.destroy();
    return 'ok';
  } catch (error) {
    return error instanceof SocxError ? error.code : String(error);
  }
}
