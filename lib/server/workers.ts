// `socx serve --workers N`: N processes of the same binary, each with its own SocksServer on the same
// addresses (SO_REUSEPORT: the kernel spreads new connections by a hash of their addresses and ports). The
// primary serves nothing: it starts the workers, passes signals on to them, restarts the ones that die, and
// answers for all of them (ready lines, status, exit code).
//
// Why SO_REUSEPORT rather than node:cluster (BENCHMARKS.md, "Workers"): the same connection rate as
// cluster's shared handle and 1.3x cluster's round robin, which passes every connection through the primary;
// and cluster would route every other listen of a worker (BIND's port, the UDP relays) through the primary
// too, giving each worker the same "random" port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { isSea } from 'node:sea';
import { SocxError, type ErrorCode } from '../errors.ts';
import type { ListenAddress, ServerStatus } from './server.ts';

/** Set in a worker's environment to its number (1…N): the process then waits for its settings on the IPC
 * channel instead of serving on its own. */
export const WORKER_ENV = 'SOCX_WORKER';

/** What the primary asks every worker: to reload, its status, its metrics. */
export type Question = 'reload' | 'status' | 'metrics';

export type ToWorker<S> =
  | { readonly type: 'start'; readonly settings: S; readonly listen: readonly ListenAddress[] }
  | { readonly type: 'ask'; readonly id: number; readonly what: Question }
  | { readonly type: 'drain'; readonly graceMs: number }
  /** The settings the primary loaded last, for the next reload. */
  | { readonly type: 'settings'; readonly settings: S }
  /** Another worker's failed login, passed on to every worker (the budget is per source, not per worker). */
  | LoginFailed;

export interface LoginFailed { readonly type: 'login-failed'; readonly source: string }

export type FromWorker =
  | { readonly type: 'listening'; readonly bound: readonly ListenAddress[] }
  | { readonly type: 'failed'; readonly code: ErrorCode; readonly message: string }
  /** To 'reload': the error, or null; to 'status': the worker's ServerStatus; to 'metrics': its registry as
   * JSON, or null without --metrics. */
  | { readonly type: 'answer'; readonly id: number; readonly value: unknown }
  | LoginFailed;

export interface WorkerAnswer<T> {
  readonly worker: number;
  readonly pid: number;
  /** undefined when the worker did not answer in time (it may be dying). */
  readonly value: T | undefined;
}

export interface WorkerPoolOptions<S> {
  readonly count: number;
  /** What each worker needs to build its server, sent over IPC (not argv, so that no password shows in ps). */
  readonly settings: S;
  readonly listen: readonly ListenAddress[];
  /** One line about a worker (it died, it is being restarted). */
  readonly log: (line: string) => void;
  /** How long a worker may take to start listening before start-up counts as failed. */
  readonly startTimeoutMs?: number;
}

interface Slot {
  readonly number: number;
  child: ChildProcess | undefined;
  startedAt: number;
  listening: boolean;
  /** Quick deaths in a row, for the restart delay. */
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

/** A worker that lived this long was not crash-looping: its next restart is quick again. */
const STABLE_MS = 10_000;
const FIRST_RESTART_MS = 100;
const MAX_RESTART_MS = 10_000;
const ANSWER_MS = 2000;
/** After the grace period, how long a worker may take to exit before it is killed. */
const EXIT_SLACK_MS = 3000;

export const restartDelayMs = (failures: number): number => Math.min(FIRST_RESTART_MS * 2 ** failures, MAX_RESTART_MS);

/** How to run this same program again: the single executable runs itself; node runs the same script with the
 * same flags (`node dist/socx.cjs`, `node cmd/main.ts`). */
function selfCommand(): { file: string; args: string[] } {
  if (isSea()) return { file: process.execPath, args: ['serve'] };
  return { file: process.execPath, args: [...process.execArgv, process.argv[1] ?? '', 'serve'] };
}

export class WorkerPool<S> {
  readonly #options: WorkerPoolOptions<S>;
  /** What the next worker started gets, and a reload uses: the options' settings until `update`. */
  #settings: S;
  readonly #slots: Slot[];
  /** What workers bind: the requested addresses until the first worker has chosen the ports for port 0. */
  #listen: readonly ListenAddress[];
  #started = false;
  #draining = false;
  #nextId = 0;
  readonly #answers = new Map<number, (value: unknown) => void>();

  constructor(options: WorkerPoolOptions<S>) {
    this.#options = options;
    this.#settings = options.settings;
    this.#listen = options.listen;
    this.#slots = Array.from({ length: options.count }, (_, index) => ({ number: index + 1, child: undefined, startedAt: 0, listening: false, failures: 0, restart: undefined }));
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Whether any worker is listening now: none while they all crash-loop, or are all being replaced. */
  get serving(): boolean {
    return this.#slots.some((slot) => slot.listening);
  }

  get pids(): number[] {
    return this.#slots.flatMap((slot) => (slot.child?.pid === undefined ? [] : [slot.child.pid]));
  }

  /** Resolves with the bound addresses once every worker listens on them. With port 0 the first worker binds
   * alone, so that it becomes one port that the others then share. Rejects with the first failure, after
   * stopping the rest. */
  async start(): Promise<ListenAddress[]> {
    const [first, ...rest] = this.#slots as [Slot, ...Slot[]];
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.#options.startTimeoutMs ?? 30_000;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SocxError('timeout', `the workers were not listening after ${timeoutMs} ms`)), timeoutMs);
    });
    const launchRest = (): Promise<unknown> => Promise.all(rest.map((slot) => this.#launch(slot)));
    try {
      const firstBound = this.#launch(first).then((bound) => {
        // Where later workers (and replacements) bind: port 0 is now the port the first one got.
        this.#listen = bound.map(({ host, port, noAuth, proxyProtocol }) => ({ host, port, noAuth, proxyProtocol }));
        return bound;
      });
      // Fixed ports: every worker can bind at once. Port 0: the others wait for the first.
      const others = this.#listen.some((address) => address.port === 0) ? firstBound.then(launchRest) : launchRest();
      others.catch(() => {});
      const bound = await Promise.race([firstBound, timeout]);
      await Promise.race([others, timeout]);
      this.#started = true;
      return bound;
    } catch (error) {
      this.#draining = true;
      for (const slot of this.#slots) {
        clearTimeout(slot.restart);
        slot.child?.kill('SIGKILL');
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #launch(slot: Slot): Promise<ListenAddress[]> {
    const { file, args } = selfCommand();
    const child = spawn(file, args, { env: { ...process.env, [WORKER_ENV]: String(slot.number) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.listening = false;
    return new Promise((resolve, reject) => {
      let failure: SocxError | undefined;
      child.on('message', (message: FromWorker) => {
        if (message.type === 'listening') {
          slot.listening = true;
          resolve([...message.bound]);
        } else if (message.type === 'failed') failure = new SocxError(message.code, message.message);
        else if (message.type === 'login-failed') this.#toOthers(slot, message);
        else this.#answers.get(message.id)?.(message.value);
      });
      const ended = (why: string): void => {
        if (slot.child !== child) return;
        slot.child = undefined;
        if (!slot.listening) reject(failure ?? new SocxError('network', `worker ${slot.number} ${why} before it was listening`));
        this.#ended(slot, child.pid, failure?.message ?? why);
        slot.listening = false;
      };
      child.once('exit', (code, signal) => ended(signal ? `was killed by ${signal}` : `exited with code ${code}`));
      // A process that could not be started at all has no 'exit'.
      child.once('error', (error) => { if (child.pid === undefined) ended(`could not be started: ${error.message}`); });
      this.#send(child, { type: 'start', settings: this.#settings, listen: this.#listen });
    });
  }

  /** A worker is gone: while serving, another takes its place, later and later while they keep dying young. */
  #ended(slot: Slot, pid: number | undefined, why: string): void {
    // A worker that never listened during start-up fails the start instead (start() rejects).
    if (this.#draining || (!this.#started && !slot.listening)) return;
    slot.failures = Date.now() - slot.startedAt >= STABLE_MS ? 0 : slot.failures + 1;
    const delay = restartDelayMs(slot.failures);
    this.#options.log(`worker ${slot.number} (pid ${pid ?? '?'}) ${why}; starting a new one in ${delay} ms`);
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      // A failed restart ends like any death, in #ended, which tries again.
      this.#launch(slot).catch(() => {});
    }, delay);
  }

  #toOthers(from: Slot, message: ToWorker<S>): void {
    for (const slot of this.#slots) if (slot !== from && slot.child) this.#send(slot.child, message);
  }

  #send(child: ChildProcess, message: ToWorker<S>): void {
    // A worker that is exiting has closed its channel: its 'exit' is handled on its own.
    if (child.connected) child.send(message, () => {});
  }

  /** New settings for every worker's next reload, and for the workers started from now on. */
  update(settings: S): void {
    this.#settings = settings;
    for (const slot of this.#slots) if (slot.child) this.#send(slot.child, { type: 'settings', settings });
  }

  /** Asks every listening worker; each answer (or undefined after a timeout) in worker order. */
  async ask<T>(what: Question): Promise<Array<WorkerAnswer<T>>> {
    const live = this.#slots.filter((slot) => slot.child !== undefined && slot.listening);
    return Promise.all(live.map((slot) => new Promise<WorkerAnswer<T>>((resolve) => {
      const child = slot.child!;
      const id = this.#nextId++;
      const done = (value: unknown): void => {
        clearTimeout(timer);
        this.#answers.delete(id);
        resolve({ worker: slot.number, pid: child.pid ?? 0, value: value as T | undefined });
      };
      const timer = setTimeout(() => done(undefined), ANSWER_MS);
      this.#answers.set(id, done);
      this.#send(child, { type: 'ask', id, what });
    })));
  }

  /** Every worker stops accepting and gets `graceMs` for its connections; resolves when all have exited. */
  async drain(graceMs: number): Promise<void> {
    this.#draining = true;
    const exits: Array<Promise<void>> = [];
    for (const slot of this.#slots) {
      clearTimeout(slot.restart);
      const child = slot.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      exits.push(new Promise((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), graceMs + EXIT_SLACK_MS);
        child.once('exit', () => { clearTimeout(kill); resolve(); });
      }));
      this.#send(child, { type: 'drain', graceMs });
    }
    await Promise.all(exits);
  }
}

/**
 * SO_REUSEPORT lets any process of the same user join a port's group, and the kernel would then hand it part
 * of the connections: a second `socx serve --workers` started by mistake on the same port would share it
 * silently. Binding each fixed port once without the option first fails (EADDRINUSE) when anything holds it.
 */
export async function assertNotShared(addresses: readonly ListenAddress[]): Promise<void> {
  // All held at once, so that an address given twice fails as it does without workers.
  const probes: Server[] = [];
  try {
    for (const { host, port } of addresses) {
      if (port === 0) continue;
      const probe = createServer();
      probes.push(probe);
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen({ host, port, ipv6Only: host.includes(':') }, resolve);
      });
    }
  } finally {
    await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))));
  }
}

/** All workers' status as one: counts and bytes added, top clients merged. */
export function totalStatus(statuses: readonly ServerStatus[], startedAt: number): ServerStatus {
  const clients = new Map<string, number>();
  for (const status of statuses) for (const [ip, count] of status.topClients) clients.set(ip, (clients.get(ip) ?? 0) + count);
  const sum = (pick: (status: ServerStatus) => number): number => statuses.reduce((total, status) => total + pick(status), 0);
  return {
    startedAt,
    connections: { handshake: sum((s) => s.connections.handshake), relaying: sum((s) => s.connections.relaying), total: sum((s) => s.connections.total) },
    topClients: [...clients].sort((a, b) => b[1] - a[1]).slice(0, 5),
    bytesUp: sum((s) => s.bytesUp),
    bytesDown: sum((s) => s.bytesDown),
  };
}

/** A cap shared by `workers` processes that cannot see each other's counts: each gets its part, rounded up
 * (0 stays "no limit"). */
export const perWorker = (cap: number, workers: number): number => (cap === 0 ? 0 : Math.ceil(cap / workers));
