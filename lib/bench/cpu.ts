import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time, to tell which side limits a number: when the proxy's process sits near 100 % of a core, the proxy
 * is the limit; when the generator does, bench is. The proxy's time comes from /proc (Linux), summed over
 * its process and every descendant (Dante forks workers), including children that exited and were reaped:
 * each live thread's schedstat (nanoseconds, so that a run of a fraction of a second still reads right) or,
 * when more, stat's total (10 ms ticks, threads that exited included), plus the reaped children's time.
 */

/** Milliseconds of CPU (user + system) this process has used, all threads. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

// USER_HZ: 100 on every Linux architecture Node runs on.
const TICK_MS = 10;
const MIN_WALL_MS = 50;

interface ProcStat { readonly ppid: number; readonly ms: number }

function readStat(pid: string): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
  const field = (n: number): number => Number(fields[n - 3] ?? NaN);
  // stat counts the threads that have exited too (microsocks runs one per connection), to the tick;
  // schedstat counts the live ones to the nanosecond. The larger is the closer.
  const own = Math.max((field(14) + field(15)) * TICK_MS, threadsMs(pid) ?? 0);
  return { ppid: field(4), ms: own + (field(16) + field(17)) * TICK_MS };
}

/** The CPU time of every live thread of `pid` from schedstat (its first field: nanoseconds on a CPU). */
function threadsMs(pid: string): number | undefined {
  let ns = 0;
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'latin1').split(' ')[0]);
  } catch {
    return undefined;
  }
  return Number.isFinite(ns) ? ns / 1e6 : undefined;
}

/** CPU milliseconds of `pid` and its descendants, or undefined where /proc cannot tell (not Linux, gone). */
export function processTreeCpuMs(pid: number): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const stats = new Map<number, ProcStat>();
  for (const entry of entries) {
    const stat = readStat(entry);
    if (stat) stats.set(Number(entry), stat);
  }
  if (!stats.has(pid)) return undefined;
  const children = new Map<number, number[]>();
  for (const [child, { ppid }] of stats) children.set(ppid, [...(children.get(ppid) ?? []), child]);
  let ms = 0;
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    ms += stats.get(next)?.ms ?? 0;
    pending.push(...(children.get(next) ?? []));
  }
  return Number.isFinite(ms) ? ms : undefined;
}

export interface CpuMeter {
  /** Percent of one core each process used since the meter started. */
  stop(): CpuShare;
}

/** Undefined where it cannot be told: no /proc, or a run too short to say much. */
export interface CpuShare {
  readonly generator: number | undefined;
  readonly targets: number | undefined;
  readonly proxy: number | undefined;
}

/** `generators`: the processes that share the generator's work (the connection-rate loops), counted as its. */
export function startCpuMeter(pids: { targets: number | undefined; proxy: number | undefined; generators?: readonly number[] }): CpuMeter {
  const tree = (pid: number | undefined): number | undefined => pid === undefined ? undefined : processTreeCpuMs(pid);
  const generatorMs = (): number => (pids.generators ?? []).reduce((total, pid) => total + (tree(pid) ?? 0), ownCpuMs());
  const begun = performance.now();
  const generator = generatorMs();
  const targets = tree(pids.targets);
  const proxy = tree(pids.proxy);
  return {
    stop: () => {
      const wallMs = performance.now() - begun;
      if (wallMs < MIN_WALL_MS) return { generator: undefined, targets: undefined, proxy: undefined };
      const share = (before: number | undefined, after: number | undefined): number | undefined =>
        before === undefined || after === undefined ? undefined : (100 * (after - before)) / wallMs;
      return {
        generator: (100 * (generatorMs() - generator)) / wallMs,
        targets: share(targets, tree(pids.targets)),
        proxy: share(proxy, tree(pids.proxy)),
      };
    },
  };
}
