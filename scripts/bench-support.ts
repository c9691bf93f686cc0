// What the benchmark scripts (bench.ts, bench-compare.ts, bench-load.ts) share: the proxies they start, how
// they run socx bench and socksload's compare.sh, and how they rewrite their section of BENCHMARKS.md.

import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findListenerPid } from '../lib/bench/listener-pid.ts';
import type { BenchJson } from '../lib/bench/summary.ts';
import { startDante, startMicrosocks } from '../test/support/peers.ts';
import { startProcess } from '../test/support/process.ts';

export const root = path.resolve(import.meta.dirname, '..');
const entry = path.join(root, 'cmd', 'main.ts');
const benchmarks = path.join(root, 'BENCHMARKS.md');

export interface Proxy {
  /** What the tables call it. */
  readonly label: string;
  /** What compare.sh calls it (a plain word). */
  readonly name: string;
  readonly port: number;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** socx serve on a free loopback port: from the sources (no build needed), or the built dist/socx. */
export async function startSocxServe(from: 'sources' | 'dist' = 'sources'): Promise<Proxy> {
  const [file, ...args] = from === 'sources' ? [process.execPath, entry] : [builtSocx()];
  const serve = await startProcess(file!, [...args, 'serve', '--listen', '127.0.0.1:0', '--quiet', '--grace', '0'], {
    readyPattern: /listening on 127\.0\.0\.1:\d+/,
    readyStream: 'stderr',
    timeoutMs: 15_000,
  });
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(serve.output())?.[1]);
  return { label: 'socx serve', name: 'socx', port, pid: serve.pid, stop: serve.stop };
}

function builtSocx(): string {
  const file = path.join(root, 'dist', 'socx');
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`${path.relative(process.cwd(), file) || file} is missing: run npm run build first`);
  }
  return file;
}

/** socx serve, microsocks and Dante (from apt, see .ci/run; its UDP ASSOCIATE enabled), each on a free
 * loopback port. */
export async function startProxies(proxies: Proxy[], socx: 'sources' | 'dist' = 'sources'): Promise<void> {
  proxies.push(await startSocxServe(socx));
  const microsocks = await startMicrosocks();
  proxies.push({ label: 'microsocks', name: 'microsocks', port: microsocks.port, pid: findListenerPid(microsocks.port), stop: microsocks.stop });
  const dante = await startDante({ udp: true });
  proxies.push({ label: 'Dante', name: 'dante', port: dante.port, pid: findListenerPid(dante.port), stop: dante.stop });
}

/** `socx bench -x … --label …` arguments for these proxies. */
export function proxyArgs(proxies: readonly Proxy[]): string[] {
  return proxies.flatMap(({ label, port }) => ['-x', `socks5h://127.0.0.1:${port}`, '--label', label]);
}

/** `socx bench --json`, its progress on our stderr; resolves with the parsed JSON. */
export function runBench(args: readonly string[]): Promise<BenchJson> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, 'bench', '--json', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`socx bench exited with ${code}`));
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as BenchJson);
      } catch (error) {
        reject(error);
      }
    });
  });
}

/**
 * socksload's compare.sh (see its README): ../shared/tools/socksload beside the repository in a clean clone,
 * or under SOCX_SHARED when the shared folder lives elsewhere.
 */
export function compareScript(): string {
  const shared = process.env.SOCX_SHARED ?? path.resolve(root, '..', 'shared');
  const script = path.join(shared, 'tools', 'socksload', 'compare.sh');
  try {
    accessSync(script, constants.X_OK);
  } catch {
    throw new Error(`socksload's compare.sh not found at ${script}: it comes with the shared folder beside the repository (../shared); set SOCX_SHARED=/path/to/shared if it is elsewhere`);
  }
  return script;
}

/** Runs compare.sh with `args`, its output on our stderr; resolves once it exits 0. */
export function runCompare(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(compareScript(), args, { cwd: root, stdio: ['ignore', process.stderr, 'inherit'] });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`compare.sh exited with ${code}`))));
  });
}

export function packageVersion(name: string): string {
  const result = spawnSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : 'unknown version';
}

/** A command line as it could be typed again. */
export function quote(args: readonly string[]): string {
  return args.map((arg) => (/^[\w./:=,@-]+$/.test(arg) ? arg : `'${arg}'`)).join(' ');
}

/** Replaces the text between `begin` and `end` in BENCHMARKS.md (appending the section when they are
 * missing); the rest of the file is kept. `section` includes both markers. */
export async function writeSection(begin: string, end: string, section: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(benchmarks, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  text = from >= 0 && to > from ? text.slice(0, from) + section + text.slice(to + end.length) : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(benchmarks, text);
}

/** Stops every proxy, also on Ctrl-C, then runs `main`'s failure through one line on stderr. */
export function runScript(name: string, proxies: Proxy[], main: () => Promise<void>): void {
  const stopAll = (): Promise<unknown> => Promise.allSettled(proxies.map((proxy) => proxy.stop()));
  process.once('SIGINT', () => { void stopAll().then(() => process.exit(130)); });
  main().finally(stopAll).catch((error: unknown) => {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
