import { clientSource } from '../policy/ip-key.ts';

/**
 * Failed logins per source, as sshd's PerSourcePenalties and fail2ban count them: each source (an IPv4
 * address, or an IPv6 /64, what one subscriber gets) has a budget of LOGIN_BURST failures that refills by one
 * every LOGIN_REFILL_MS. Over budget, every login from it is refused, right password or wrong, without the
 * password check (so scrypt cannot be made to burn CPU either), until the budget has refilled by one. A
 * success costs nothing. At most MAX_PENDING_LOGINS logins per source are under way at once (being checked,
 * or waiting out the delay before their refusal); more are refused at once.
 *
 * A failure is charged when its check answers, so checks already under way may overdraw the budget (by at
 * most MAX_PENDING_LOGINS); the overdraft is paid back at the refill rate like any failure, which keeps the
 * long-run rate at one guess per LOGIN_REFILL_MS whatever the attacker's concurrency.
 *
 * With `serve --workers` each worker has a limiter: a failure checked in one is told to the others (`onFailure`
 * there, `chargeFailure` here), so that the budget is the source's, not each worker's.
 */
export const LOGIN_BURST = 5;
export const LOGIN_REFILL_MS = 2000;
export const MAX_PENDING_LOGINS = 8;
/** Sources remembered at most; the least recently active is forgotten first. Forgetting a source resets its
 * budget, but pushing one out takes this many other sources, each with a fresh budget of its own anyway. */
export const MAX_LOGIN_SOURCES = 10_000;
/** The failures behind the growing delay are forgotten after this long without one. */
const LOGIN_MEMORY_MS = 10 * 60_000;

/** How long a refusal waits: 100 ms after the first failure, doubling up to 5 s. */
export const loginDelayMs = (failures: number): number => Math.min(100 * 2 ** Math.min(Math.max(failures, 1) - 1, 10), 5000);

/** A login's verdict: checked and right, checked and wrong, or refused without a check. */
export type LoginVerdict = 'ok' | 'failed' | 'over-budget' | 'too-many-pending';

/** Runs the password check; `done` is called once, now or later. */
export type LoginCheck = (done: (ok: boolean) => void) => void;

export interface LoginClock {
  /** Milliseconds, monotonic. */
  now(): number;
  after(ms: number, run: () => void): void;
}

const realClock: LoginClock = {
  now: () => performance.now(),
  after: (ms, run) => { setTimeout(run, ms).unref(); },
};

interface Source {
  /** Failures the source may still make; below 1 it is over budget (below 0: overdrawn). */
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
  pending: number;
  /** Failures in a row without LOGIN_MEMORY_MS of quiet, for the delay. */
  failures: number;
  lastFailure: number;
}

function refill(source: Source, now: number): void {
  source.tokens = Math.min(LOGIN_BURST, source.tokens + (now - source.at) / LOGIN_REFILL_MS);
  source.at = now;
}

export class LoginLimiter {
  readonly #clock: LoginClock;
  readonly #onOverBudget: ((source: string, failures: number) => void) | undefined;
  /** Each checked failure's source, for the other workers' limiters. */
  onFailure: ((source: string) => void) | undefined;
  /** Least recently active first: that is the one dropped when full. */
  readonly #sources = new Map<string, Source>();

  constructor(options: { clock?: LoginClock; onOverBudget?: (source: string, failures: number) => void } = {}) {
    this.#clock = options.clock ?? realClock;
    this.#onOverBudget = options.onOverBudget;
  }

  /** Sources remembered now. */
  get size(): number {
    return this.#sources.size;
  }

  /**
   * A login from `ip`: `check` runs unless the source is over budget; `done` hears the verdict, a refusal only
   * after the delay owed. For a source with no failures remembered and a check that answers at once (plain
   * passwords, cached hashes), this costs one Map lookup.
   */
  attempt(ip: string, check: LoginCheck, done: (verdict: LoginVerdict) => void): void {
    const key = clientSource(ip);
    const known = this.#sources.get(key);
    if (known) {
      const refusal = this.#refusal(key, known);
      if (refusal) return this.#refuse(key, known, refusal, done);
    }
    let checking: Source | undefined;
    let answered = false;
    check((ok) => {
      if (answered) return;
      answered = true;
      if (checking) this.#checked(key, checking);
      if (ok) done('ok');
      else this.#failed(key, done);
    });
    // Answered later: the check holds one of the source's pending slots meanwhile.
    if (!answered) {
      checking = this.#touch(key);
      checking.pending++;
    }
  }

  /** An answer came later: the slot is free, and a source with nothing against it is forgotten at once. */
  #checked(key: string, source: Source): void {
    source.pending--;
    if (source.pending === 0 && source.failures === 0 && this.#sources.get(key) === source) this.#sources.delete(key);
  }

  #refusal(key: string, source: Source): Exclude<LoginVerdict, 'ok' | 'failed'> | undefined {
    const now = this.#clock.now();
    if (source.pending === 0 && now - source.lastFailure >= LOGIN_MEMORY_MS) {
      this.#sources.delete(key);
      return undefined;
    }
    refill(source, now);
    if (source.pending >= MAX_PENDING_LOGINS) return 'too-many-pending';
    return source.tokens < 1 ? 'over-budget' : undefined;
  }

  #refuse(key: string, source: Source, verdict: 'over-budget' | 'too-many-pending', done: (verdict: LoginVerdict) => void): void {
    this.#touch(key);
    if (verdict === 'too-many-pending') return done(verdict);
    this.#hold(source, loginDelayMs(source.failures), () => done(verdict));
  }

  #failed(key: string, done: (verdict: LoginVerdict) => void): void {
    const source = this.#charge(key);
    if (source.tokens < 1) this.#onOverBudget?.(key, source.failures);
    this.onFailure?.(key);
    this.#hold(source, loginDelayMs(source.failures), () => done('failed'));
  }

  /** A failure from `source` (clientSource's form) checked by another worker. */
  chargeFailure(source: string): void {
    this.#charge(source);
  }

  #charge(key: string): Source {
    const source = this.#touch(key);
    const now = this.#clock.now();
    refill(source, now);
    source.tokens--;
    source.failures = now - source.lastFailure < LOGIN_MEMORY_MS ? source.failures + 1 : 1;
    source.lastFailure = now;
    return source;
  }

  /** Keeps a pending slot for `ms`, then runs `then`. */
  #hold(source: Source, ms: number, then: () => void): void {
    source.pending++;
    this.#clock.after(ms, () => {
      source.pending--;
      then();
    });
  }

  /** The source's entry, made if need be, moved to the most recently active end. */
  #touch(key: string): Source {
    const now = this.#clock.now();
    const source = this.#sources.get(key) ?? { tokens: LOGIN_BURST, at: now, pending: 0, failures: 0, lastFailure: -Infinity };
    this.#sources.delete(key);
    this.#sources.set(key, source);
    if (this.#sources.size > MAX_LOGIN_SOURCES) {
      const oldest = this.#sources.keys().next().value;
      if (oldest !== undefined) this.#sources.delete(oldest);
    }
    return source;
  }
}
