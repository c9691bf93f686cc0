import type { ResolvedAddress } from './types.ts';

interface Entry {
  readonly addresses: readonly ResolvedAddress[];
  readonly expires: number;
}

/** Positive answers for their DNS TTL (capped), at most `maxEntries` names: when full, the oldest insertion
 * goes (a Map keeps insertion order, so that is O(1)), which bounds memory whatever names clients send. */
export class AnswerCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxTtlMs: number;

  constructor(maxEntries: number, maxTtlMs: number) {
    this.#maxEntries = maxEntries;
    this.#maxTtlMs = maxTtlMs;
  }

  get(key: string, now: number): readonly ResolvedAddress[] | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires > now) return entry.addresses;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, addresses: readonly ResolvedAddress[], ttlMs: number, now: number): void {
    const lifetime = Math.min(ttlMs, this.#maxTtlMs);
    if (this.#maxEntries === 0 || lifetime <= 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { addresses, expires: now + lifetime });
  }

  get size(): number {
    return this.#entries.size;
  }
}
