import { lookup } from 'node:dns/promises';
import type { Address } from '../codec/address.ts';
import { SocxError, errnoCode, socketErrorText, usageError } from '../errors.ts';
import type { ProxyConfig } from './proxy-url.ts';

/** How names are resolved; injected so tests can stand in a resolver that never answers. */
export type Lookup = (host: string, family: 0 | 4) => Promise<{ address: string; family: number }>;

const systemLookup: Lookup = (host, family) => lookup(host, { family });

export interface LookupLimits {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly lookup?: Lookup | undefined;
}

/** getaddrinfo cannot be cancelled, so a resolver that never answers would hold the command forever: the
 * lookup races the caller's deadline (and abort signal), and the late answer is ignored. */
export async function lookupWithin(host: string, family: 0 | 4, { timeoutMs, signal, lookup: resolve = systemLookup }: LookupLimits): Promise<{ address: string; family: number }> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SocxError('timeout', `Cannot resolve ${host}: no answer from the resolver within ${timeoutMs} ms`, { phase: 'setup' })), timeoutMs);
    onAbort = (): void => reject(new SocxError('aborted', `resolving ${host} was cancelled`, { phase: 'setup' }));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  const answer = resolve(host, family);
  answer.catch(() => {});
  try {
    return await Promise.race([answer, limit]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** socks5:// and socks4:// mean the client resolves names; SOCKS4 carries IPv4 only. */
export async function resolveLocally(target: Address, proxy: ProxyConfig, limits: LookupLimits): Promise<Address> {
  if (proxy.version === 4 && target.type === 'ipv6') throw usageError('SOCKS4 cannot carry an IPv6 target: use a socks5 proxy URL');
  if (target.type !== 'domain' || proxy.remoteDns) return target;
  try {
    const { address, family } = await lookupWithin(target.host, proxy.version === 4 ? 4 : 0, limits);
    return { type: family === 6 ? 'ipv6' : 'ipv4', host: address, port: target.port };
  } catch (error) {
    if (error instanceof SocxError) throw error;
    throw new SocxError('network', `Cannot resolve ${target.host}: ${socketErrorText(errnoCode(error))} (use socks5h:// or socks4a:// to let the proxy resolve it)`, { phase: 'setup', cause: error });
  }
}
