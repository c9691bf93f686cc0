import type { Address } from '../codec/address.ts';
import { SocxError, errnoCode, socketErrorText, usageError } from '../errors.ts';
import { systemResolver } from '../resolver/resolver.ts';
import type { Resolver } from '../resolver/types.ts';
import type { ProxyConfig } from './proxy-url.ts';

export interface LookupLimits {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** The one resolver interface (lib/resolver); by default getaddrinfo, as every client tool uses. */
  readonly resolver?: Resolver | undefined;
}

/** getaddrinfo cannot be cancelled, so a resolver that never answers would hold the command forever: the
 * lookup has the caller's deadline (and abort signal), and a late answer is ignored. */
export function lookupWithin(host: string, family: 0 | 4, { timeoutMs, signal, resolver }: LookupLimits): Promise<{ address: string; family: number }> {
  const own = resolver ? undefined : systemResolver(timeoutMs, { family });
  const timeout = (): SocxError => new SocxError('timeout', `Cannot resolve ${host}: no answer from the resolver within ${timeoutMs} ms`, { phase: 'setup' });
  return new Promise<{ address: string; family: number }>((resolve, reject) => {
    const timer = setTimeout(() => finish(timeout()), timeoutMs);
    const onAbort = (): void => finish(new SocxError('aborted', `resolving ${host} was cancelled`, { phase: 'setup' }));
    function finish(error: unknown, answer?: { address: string; family: number }): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      own?.close();
      if (answer) resolve(answer);
      else reject(error);
    }
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    (resolver ?? own)?.lookup(host, '', (error, addresses) => {
      const first = family === 4 ? addresses.find((a) => a.family === 4) : addresses[0];
      if (error?.code === 'ETIMEOUT') finish(timeout());
      else if (error || !first) finish(error ?? Object.assign(new Error(`${host} has no IPv4 address`), { code: 'ENOTFOUND' }));
      else finish(undefined, first);
    });
  });
}

/** socks5:// and socks4:// mean the client resolves names; SOCKS4 carries IPv4 only. An HTTP proxy always
 * gets the name. */
export async function resolveLocally(target: Address, proxy: ProxyConfig, limits: LookupLimits): Promise<Address> {
  if (proxy.kind === 'http') return target;
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
