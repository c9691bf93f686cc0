import { describeProxy, type ProxyConfig } from '../client/proxy-url.ts';
import { VIA_DIRECT, type Verdict } from '../policy/rule.ts';

/** One route out through other proxies (serve --upstream): the hops in order, first hop first. */
export interface Upstream {
  /** What rules call it (`via=NAME`); `default` for the unnamed --upstream URLs. */
  readonly name: string;
  readonly hops: readonly [ProxyConfig, ...ProxyConfig[]];
}

export interface Upstreams {
  /** The unnamed --upstream URLs: where a request goes unless its rule says `via=`. Undefined: direct. */
  readonly default: Upstream | undefined;
  readonly named: ReadonlyMap<string, Upstream>;
}

export const DEFAULT_ROUTE = 'default';

/** Where an allowed request goes (no verdict: one no rule was asked about, such as a BIND from anyone): an
 * upstream, or undefined for a direct connection. `via=default` names the unnamed upstreams, as the log
 * does. A `via=` name is checked against the upstreams when the settings are read, so an unknown one cannot
 * reach here. */
export function routeOf(upstreams: Upstreams | undefined, verdict: Verdict | undefined): Upstream | undefined {
  if (upstreams === undefined) return undefined;
  const via = verdict?.via;
  if (via === undefined || via === DEFAULT_ROUTE) return upstreams.default;
  return via === VIA_DIRECT ? undefined : upstreams.named.get(via);
}

/** The proxy that meets the target. */
export function lastHop(upstream: Upstream): ProxyConfig {
  return upstream.hops[upstream.hops.length - 1] ?? upstream.hops[0];
}

/** The last hop resolves names itself (socks5h, socks4a, http): a name can go to it as it was asked for. */
export function resolvesNames(upstream: Upstream): boolean {
  const last = lastHop(upstream);
  return last.kind === 'http' || last.remoteDns;
}

/** socks4:// carries IPv4 targets only. */
export function carriesIpv6(upstream: Upstream): boolean {
  const last = lastHop(upstream);
  return last.kind === 'http' || last.version === 5;
}

/** Why `upstream` cannot carry BIND or UDP ASSOCIATE (the reply is then 0x07), or undefined when it can. An
 * HTTP proxy tunnels CONNECT only and SOCKS4 has no UDP. UDP datagrams go straight to the relay the last
 * hop announces, so only a single hop can carry them: a longer chain would carry the control connection
 * but not the datagrams. */
export function commandUnsupported(upstream: Upstream, command: 'bind' | 'udp'): string | undefined {
  const what = command === 'udp' ? 'UDP ASSOCIATE' : 'BIND';
  const last = lastHop(upstream);
  const where = `upstream ${upstream.name} (${describeUpstream(upstream)})`;
  if (last.kind === 'http') return `${what} cannot go through the HTTP ${where}: HTTP proxies tunnel CONNECT only`;
  if (command === 'bind') return undefined;
  if (last.version === 4) return `UDP ASSOCIATE cannot go through the SOCKS4 ${where}: SOCKS4 has no UDP`;
  if (upstream.hops.length > 1) return `UDP ASSOCIATE cannot go through the chain ${where}: only through a single SOCKS5 upstream`;
  return undefined;
}

/** The route for logs and start lines: never its credentials. */
export function describeUpstream(upstream: Upstream): string {
  return upstream.hops.map(describeProxy).join(' -> ');
}
