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
 * upstream, or undefined for a direct connection. A `via=` name is
 * checked against the upstreams when the settings are read, so an unknown one cannot reach here. */
export function routeOf(upstreams: Upstreams | undefined, verdict: Verdict | undefined): Upstream | undefined {
  if (upstreams === undefined) return undefined;
  const via = verdict?.via;
  if (via === undefined) return upstreams.default;
  return via === VIA_DIRECT ? undefined : upstreams.named.get(via);
}

/** The proxy that meets the target. */
export function lastHop(upstream: Upstream): ProxyConfig {
  return upstream.hops[upstream.hops.length - 1] ?? upstream.hops[0];
}

/** The last hop resolves names itself (socks5h, socks4a): a name can go to it as it was asked for. */
export function resolvesNames(upstream: Upstream): boolean {
  return lastHop(upstream).remoteDns;
}

/** The route for logs and start lines: never its credentials. */
export function describeUpstream(upstream: Upstream): string {
  return upstream.hops.map(describeProxy).join(' -> ');
}
