/**
 * One coarse clock and one timer for every deadline of every connection (handshake, lookup, connect, idle),
 * instead of a timer per socket: a deadline fires within one tick of its time. Reading the clock is a field
 * load; it is refreshed every tick and whenever a deadline is set.
 */
export const SWEEP_TICK_MS = 250;

let now = Math.floor(performance.now());

export function coarseNow(): number {
  return now;
}

export function refreshClock(): number {
  now = Math.floor(performance.now());
  return now;
}

export interface Sweepable {
  /** Called once a tick with the clock; returns false once it no longer needs sweeping. */
  sweep(now: number): boolean;
}

/** The sessions a server watches. Iteration order is insertion order, so the oldest come first. */
export class Sweeper {
  readonly #members = new Set<Sweepable>();
  #timer: NodeJS.Timeout | undefined;

  add(member: Sweepable): void {
    this.#members.add(member);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#tick(), SWEEP_TICK_MS);
      this.#timer.unref();
    }
  }

  delete(member: Sweepable): void {
    this.#members.delete(member);
  }

  get size(): number {
    return this.#members.size;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const time = refreshClock();
    for (const member of this.#members) {
      if (!member.sweep(time)) this.#members.delete(member);
    }
    if (this.#members.size === 0) this.stop();
  }
}
