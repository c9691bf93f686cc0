import { isHostName } from '../policy/host-name.ts';
import { clientSource } from '../policy/ip-key.ts';
import { AnswerCache } from './answer-cache.ts';
import { dnsBackend, systemBackend, systemLookupSlots, type Backend, type BackendAnswer, type LookupFunction } from './backends.ts';
import { HOSTS_FILE, HostsFile, hostKey } from './hosts-file.ts';
import { numericAddress } from './numeric-host.ts';
import { lookupError, type ClosableResolver, type FamilyOrder, type LookupCallback, type LookupError, type LookupErrorCode, type ResolvedAddress } from './types.ts';

export interface ResolverOptions {
  /** Each lookup's own deadline: its callers get ETIMEOUT then, whatever the name servers do. */
  readonly timeoutMs?: number;
  /** Lookups one client may have waiting; more fail at once with ELOOKUPLIMIT. A client is its source
   * (clientSource: an IPv6 client counts as its /64, or one host could take every lookup slot). */
  readonly maxInFlightPerClient?: number;
  /** Names being looked up at once, counting those whose callers already timed out (they still hold a socket,
   * or with 'system' a pool thread); more fail at once with ELOOKUPLIMIT. */
  readonly maxInFlight?: number;
  /** 'dns' (default): c-ares, out of the thread pool. 'system': getaddrinfo, for nsswitch sources. */
  readonly mechanism?: 'dns' | 'system';
  /** 'dns' only: name servers ("ip", "ip:port"); default: /etc/resolv.conf's. */
  readonly servers?: readonly string[];
  /** Read by us before any lookup, so local names never wait; null for none. Default /etc/hosts. */
  readonly hostsFile?: string | null;
  /** How often, at most, the hosts file is checked for changes. */
  readonly hostsCheckIntervalMs?: number;
  /** 4 or 6 to want one family only (SOCKS4 needs IPv4); 0, the default, for both. */
  readonly family?: 0 | 4 | 6;
  readonly order?: FamilyOrder;
  /** Names whose answers are kept, for their TTL up to maxTtlMs; 0 for no cache. ('system' answers have no
   * TTL and are never cached.) */
  readonly cacheSize?: number;
  readonly maxTtlMs?: number;
  /** 'system' only: a stand-in for dns.lookup (tests). */
  readonly lookup?: LookupFunction;
  /** Told of each lookup of a name (for metrics). */
  readonly onLookup?: LookupObserver | undefined;
}

/** Where a lookup's answer came from: the hosts file, the cache, a query to the backend (one per name, however
 * many wait for it), or nowhere because a cap refused it. */
export const LOOKUP_SOURCES = ['hosts', 'cache', 'query', 'refused'] as const;
export type LookupSource = typeof LOOKUP_SOURCES[number];
/** A query is reported once the backend answers, with its error (undefined: addresses) and how long it took;
 * the others at once, with 0. */
export type LookupObserver = (source: LookupSource, error: LookupErrorCode | undefined, durationMs: number) => void;

export const RESOLVER_DEFAULTS = {
  timeoutMs: 5_000,
  maxInFlightPerClient: 8,
  maxInFlight: 256,
  hostsCheckIntervalMs: 1_000,
  cacheSize: 1_024,
  maxTtlMs: 300_000,
} as const;

interface Waiter {
  readonly client: string;
  readonly callback: LookupCallback;
}

/** One name being looked up. Its waiters get an answer or the deadline's ETIMEOUT; the entry stays, `late`,
 * until the backend answers, so a dead name runs one query at a time however often it is asked for, and it
 * keeps counting against maxInFlight. */
interface Pending {
  readonly key: string;
  waiters: Waiter[];
  timer: NodeJS.Timeout | undefined;
  readonly started: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const NO_ADDRESSES: readonly ResolvedAddress[] = Object.freeze([]);

/** The server's resolver: numeric hosts without a lookup, then the hosts file, then the cache, then — within
 * the caps, one query per name, with a deadline — the backend. */
export class BoundedResolver implements ClosableResolver {
  readonly #timeoutMs: number;
  readonly #maxPerClient: number;
  readonly #maxInFlight: number;
  readonly #family: 0 | 4 | 6;
  readonly #hosts: HostsFile | undefined;
  readonly #cache: AnswerCache;
  readonly #backend: Backend;
  readonly #pending = new Map<string, Pending>();
  readonly #perClient = new Map<string, number>();
  readonly #onLookup: LookupObserver | undefined;

  constructor(options: ResolverOptions) {
    const mechanism = options.mechanism ?? 'dns';
    const order = options.order ?? 'ipv4first';
    const family = options.family ?? 0;
    const hostsCheckIntervalMs = options.hostsCheckIntervalMs ?? RESOLVER_DEFAULTS.hostsCheckIntervalMs;
    this.#timeoutMs = options.timeoutMs ?? RESOLVER_DEFAULTS.timeoutMs;
    // setTimeout turns anything above 2^31-1 ms (and Infinity) into 1 ms.
    if (!(this.#timeoutMs > 0 && this.#timeoutMs <= MAX_TIMER_MS)) throw new RangeError(`lookup timeout must be 1..${MAX_TIMER_MS} ms, not ${this.#timeoutMs}`);
    this.#maxPerClient = options.maxInFlightPerClient ?? RESOLVER_DEFAULTS.maxInFlightPerClient;
    this.#maxInFlight = options.maxInFlight ?? (mechanism === 'system' ? systemLookupSlots() : RESOLVER_DEFAULTS.maxInFlight);
    this.#family = family;
    this.#onLookup = options.onLookup;
    const hostsFile = options.hostsFile === undefined ? HOSTS_FILE : options.hostsFile;
    this.#hosts = hostsFile === null ? undefined : new HostsFile(hostsFile, order, hostsCheckIntervalMs);
    this.#cache = new AnswerCache(options.cacheSize ?? RESOLVER_DEFAULTS.cacheSize, options.maxTtlMs ?? RESOLVER_DEFAULTS.maxTtlMs);
    this.#backend = mechanism === 'system'
      ? systemBackend({ family, order, lookup: options.lookup })
      : dnsBackend({ family, order, servers: options.servers, timeoutMs: this.#timeoutMs });
  }

  lookup(host: string, clientIp: string, callback: LookupCallback): void {
    const numeric = numericAddress(host);
    if (numeric !== undefined) return this.#answerSoon(host, [numeric], callback);
    const key = hostKey(host);
    if (key === '') return process.nextTick(callback, lookupError('ENOTFOUND', host, 'empty host name'), NO_ADDRESSES);
    // Not a host name (isHostName): no name server is asked, and the rules' reading of the name stays the one
    // that is looked up.
    if (!isHostName(host)) return process.nextTick(callback, lookupError('ENOTFOUND', host, `${host}: not a valid DNS name`), NO_ADDRESSES);
    const local = this.#hosts?.get(key);
    if (local !== undefined && this.#wanted(local).length > 0) {
      this.#onLookup?.('hosts', undefined, 0);
      return this.#answerSoon(host, local, callback);
    }
    const cached = this.#cache.get(key, performance.now());
    if (cached !== undefined) {
      this.#onLookup?.('cache', undefined, 0);
      return process.nextTick(callback, null, cached);
    }

    const client = clientSource(clientIp);
    const waiting = this.#perClient.get(client) ?? 0;
    if (waiting >= this.#maxPerClient) return this.#refuse(host, `${waiting} lookups of this client in flight`, callback);
    const pending = this.#pending.get(key);
    if (pending === undefined && this.#pending.size >= this.#maxInFlight) return this.#refuse(host, `${this.#pending.size} lookups in flight`, callback);
    const entry = pending ?? { key, waiters: [], timer: undefined, started: performance.now() };
    this.#perClient.set(client, waiting + 1);
    entry.waiters.push({ client, callback });
    if (entry.timer === undefined) entry.timer = setTimeout(() => this.#expire(entry), this.#timeoutMs);
    if (pending !== undefined) return;
    this.#pending.set(key, entry);
    // Last, so a backend that answers at once finds its waiter. The name as given: to getaddrinfo a trailing
    // dot means "no search domains".
    this.#backend.query(host, (error, answer) => this.#settle(entry, error, answer));
  }

  close(): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      this.#answer(pending, lookupError('ECANCELLED', pending.key, `lookup of ${pending.key} cancelled: the resolver was closed`), NO_ADDRESSES);
    }
    this.#pending.clear();
    this.#backend.close();
  }

  /** Lookups waiting for an answer, and names being looked up (including late ones): for tests and stats. */
  get inFlight(): { readonly waiting: number; readonly names: number } {
    let waiting = 0;
    for (const count of this.#perClient.values()) waiting += count;
    return { waiting, names: this.#pending.size };
  }

  #wanted(addresses: readonly ResolvedAddress[]): readonly ResolvedAddress[] {
    return this.#family === 0 ? addresses : addresses.filter((a) => a.family === this.#family);
  }

  #answerSoon(host: string, addresses: readonly ResolvedAddress[], callback: LookupCallback): void {
    const wanted = this.#wanted(addresses);
    if (wanted.length > 0) return process.nextTick(callback, null, Object.isFrozen(wanted) ? wanted : Object.freeze(wanted));
    process.nextTick(callback, lookupError('ENOTFOUND', host, `${host} has no IPv${this.#family} address`), NO_ADDRESSES);
  }

  #refuse(host: string, why: string, callback: LookupCallback): void {
    this.#onLookup?.('refused', 'ELOOKUPLIMIT', 0);
    process.nextTick(callback, lookupError('ELOOKUPLIMIT', host, `lookup of ${host} refused: ${why}`), NO_ADDRESSES);
  }

  #expire(pending: Pending): void {
    pending.timer = undefined;
    this.#answer(pending, lookupError('ETIMEOUT', pending.key, `lookup of ${pending.key} timed out after ${this.#timeoutMs} ms`), NO_ADDRESSES);
  }

  #settle(pending: Pending, error: LookupError | null, answer: BackendAnswer | undefined): void {
    if (this.#pending.get(pending.key) !== pending) return; // closed meanwhile
    this.#pending.delete(pending.key);
    clearTimeout(pending.timer);
    const now = performance.now();
    if (answer !== undefined) this.#cache.set(pending.key, answer.addresses, answer.ttlMs, now);
    this.#onLookup?.('query', error?.code, now - pending.started);
    this.#answer(pending, error, answer?.addresses ?? NO_ADDRESSES);
  }

  #answer(pending: Pending, error: LookupError | null, addresses: readonly ResolvedAddress[]): void {
    const { waiters } = pending;
    pending.waiters = [];
    for (const { client } of waiters) {
      const left = (this.#perClient.get(client) ?? 1) - 1;
      if (left === 0) this.#perClient.delete(client);
      else this.#perClient.set(client, left);
    }
    for (const { callback } of waiters) callback(error, addresses);
  }
}

export function createResolver(options: ResolverOptions = {}): BoundedResolver {
  return new BoundedResolver(options);
}

/** For the clients (socx connect with socks5:// or socks4://): getaddrinfo as any program would, nsswitch and
 * /etc/hosts included, answered by `timeoutMs` even when the C library is still waiting. No caps, no cache. */
export function systemResolver(timeoutMs: number, options: Pick<ResolverOptions, 'family' | 'order' | 'lookup'> = {}): BoundedResolver {
  return new BoundedResolver({ ...options, timeoutMs, mechanism: 'system', hostsFile: null, cacheSize: 0, maxInFlight: Infinity, maxInFlightPerClient: Infinity });
}
