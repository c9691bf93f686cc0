import { lookup as dnsLookup, Resolver as CaresResolver, type LookupAddress, type LookupAllOptions, type RecordWithTtl } from 'node:dns';
import { lookupError, orderByFamily, type FamilyOrder, type LookupError, type ResolvedAddress } from './types.ts';

export interface BackendAnswer {
  readonly addresses: readonly ResolvedAddress[];
  /** How long the answer may be cached; 0 when the source does not say. */
  readonly ttlMs: number;
}

export type BackendCallback = (error: LookupError | null, answer: BackendAnswer | undefined) => void;

/** Where names go that are neither numeric, in the hosts file, nor cached. Called at most once per name at a
 * time; it answers asynchronously (as dns.lookup and c-ares do), maybe long after the front's deadline (the
 * front has answered its callers by then). */
export interface Backend {
  query(host: string, callback: BackendCallback): void;
  close(): void;
}

export interface QueryShape {
  readonly family: 0 | 4 | 6;
  readonly order: FamilyOrder;
}

export interface DnsBackendOptions extends QueryShape {
  /** Name servers ("ip" or "ip:port", as dns.setServers takes); default: those of /etc/resolv.conf, read by
   * c-ares once, when the resolver is made (as Node's own dns.resolve* do: a change needs a restart). */
  readonly servers?: readonly string[] | undefined;
  readonly timeoutMs: number;
}

/** How long, once one family has answered with addresses, we wait for the other: RFC 8305 §3's "Resolution
 * Delay", so a server that drops AAAA queries costs 50 ms, not the whole timeout. */
export const SECOND_FAMILY_WAIT_MS = 50;

/** c-ares (dns.Resolver): A and AAAA queries over the event loop's own sockets, never libuv's thread pool, so a
 * dead name costs a socket and a timer, and nobody else waits for it. Unlike getaddrinfo it knows nothing of
 * nsswitch.conf (no mDNS `.local`, NIS, LDAP, systemd-resolved's per-link servers), applies no search domains
 * (ares_query, not ares_search: names are taken as fully qualified) and reads no hosts file: the front reads that. */
export function dnsBackend(options: DnsBackendOptions): Backend {
  // c-ares retries on its own; two tries with backoff fit in about our deadline, so a query the front has
  // given up on is not kept alive much longer than that.
  const caresOptions = { timeout: Math.max(50, Math.floor(options.timeoutMs / 3)), tries: 2, maxTimeout: options.timeoutMs };
  const resolver = new CaresResolver(caresOptions);
  if (options.servers) resolver.setServers(options.servers);
  return {
    query(host, callback) {
      queryBothFamilies(resolver, host, options, callback);
    },
    close() {
      resolver.cancel();
    },
  };
}

type FamilyResult = { readonly records: readonly RecordWithTtl[] } | { readonly error: NodeJS.ErrnoException };

function queryBothFamilies(resolver: CaresResolver, host: string, shape: QueryShape, callback: BackendCallback): void {
  const families: Array<4 | 6> = shape.family === 0 ? [4, 6] : [shape.family];
  const results = new Map<4 | 6, FamilyResult>();
  let grace: NodeJS.Timeout | undefined;
  let answered = false;
  const finish = (): void => {
    if (answered) return;
    answered = true;
    clearTimeout(grace);
    callback(...combine(host, families, results, shape.order));
  };
  for (const family of families) {
    const done = (error: NodeJS.ErrnoException | null, records: RecordWithTtl[]): void => {
      results.set(family, error ? { error } : { records });
      if (results.size === families.length) return finish();
      if (!error && records.length > 0 && grace === undefined) grace = setTimeout(finish, SECOND_FAMILY_WAIT_MS);
    };
    if (family === 4) resolver.resolve4(host, { ttl: true }, done);
    else resolver.resolve6(host, { ttl: true }, done);
  }
}

function combine(host: string, families: ReadonlyArray<4 | 6>, results: ReadonlyMap<4 | 6, FamilyResult>, order: FamilyOrder): Parameters<BackendCallback> {
  const addresses: ResolvedAddress[] = [];
  let ttl = Infinity;
  const errors: NodeJS.ErrnoException[] = [];
  for (const family of families) {
    const result = results.get(family);
    if (result === undefined) continue; // the other family's grace ran out
    if ('error' in result) { errors.push(result.error); continue; }
    for (const record of result.records) {
      addresses.push({ address: record.address, family });
      ttl = Math.min(ttl, record.ttl);
    }
  }
  if (addresses.length > 0) return [null, { addresses: orderByFamily(addresses, order), ttlMs: ttl * 1000 }];
  return [caresError(host, errors), undefined];
}

const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'EBADNAME', 'EAI_NONAME', 'EAI_NODATA']);

/** Both families failed: no such name if the servers said so (NXDOMAIN, or no record of either family), a
 * timeout if they all timed out, else a temporary failure naming the servers' answer. */
function caresError(host: string, errors: readonly NodeJS.ErrnoException[]): LookupError {
  const codes = errors.map((error) => error.code ?? 'EAI_AGAIN');
  if (codes.some((code) => NO_SUCH_NAME.has(code)) && codes.every((code) => NO_SUCH_NAME.has(code) || code === 'ETIMEOUT')) {
    return lookupError('ENOTFOUND', host, `${host}: no such name`, errors[0]);
  }
  if (codes.length > 0 && codes.every((code) => code === 'ETIMEOUT')) return lookupError('ETIMEOUT', host, `${host}: the name servers did not answer`, errors[0]);
  return lookupError('EAI_AGAIN', host, `${host}: name servers failed (${[...new Set(codes)].join(', ')})`, errors[0]);
}

export type LookupFunction = (host: string, options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

export interface SystemBackendOptions extends QueryShape {
  /** dns.lookup, or a stand-in for tests. */
  readonly lookup?: LookupFunction | undefined;
}

/** getaddrinfo (dns.lookup) in libuv's thread pool: nsswitch.conf, search domains and all, but a name whose
 * servers never answer holds a pool thread until the C library gives up (resolv.conf's timeout × attempts),
 * whatever our deadline, and libuv runs at most (UV_THREADPOOL_SIZE + 1) / 2 lookups at once. */
export function systemBackend(options: SystemBackendOptions): Backend {
  const lookup: LookupFunction = options.lookup ?? dnsLookup;
  const lookupOptions: LookupAllOptions = { all: true, family: options.family, order: options.order };
  return {
    query(host, callback) {
      lookup(host, lookupOptions, (error, found) => {
        if (error) return callback(systemError(host, error), undefined);
        if (found.length === 0) return callback(lookupError('ENOTFOUND', host, `${host}: no such name`), undefined);
        const addresses = found.map((a): ResolvedAddress => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
        callback(null, { addresses: Object.freeze(addresses), ttlMs: 0 });
      });
    },
    close() {},
  };
}

function systemError(host: string, error: NodeJS.ErrnoException): LookupError {
  if (NO_SUCH_NAME.has(error.code ?? '')) return lookupError('ENOTFOUND', host, `${host}: no such name`, error);
  return lookupError('EAI_AGAIN', host, `${host}: name lookup failed (${error.code ?? error.message})`, error);
}

/** How many getaddrinfo calls libuv runs at once: half its pool, rounded up (libuv src/threadpool.c,
 * slow_work_thread_threshold); the rest wait in a queue. Two dead names fill the default pool's share. */
export function systemLookupSlots(env: NodeJS.ProcessEnv = process.env): number {
  const size = Number(env.UV_THREADPOOL_SIZE);
  const threads = Number.isInteger(size) && size > 0 ? Math.min(size, 1024) : 4;
  return Math.floor((threads + 1) / 2);
}
