/** At most one line per key per period; the lines held back are counted in the next one. */
export class RateLimitedLog {
  readonly #periodMs: number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(periodMs: number) {
    this.#periodMs = periodMs;
  }

  log(key: string, message: string, sink: ((line: string) => void) | undefined): void {
    if (!sink) return;
    const now = Date.now();
    const entry = this.#last.get(key);
    if (entry && now - entry.at < this.#periodMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    if (this.#last.size > 1000) this.#last.clear();
    this.#last.set(key, { at: now, suppressed: 0 });
    sink(suppressed > 0 ? `${message} (${suppressed} more like this in the last ${this.#periodMs / 1000} s)` : message);
  }
}
