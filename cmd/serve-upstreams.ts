import { parseProxyUrl, redact, type ProxyConfig } from '../lib/client/proxy-url.ts';
import { usageError } from '../lib/errors.ts';
import type { Policy } from '../lib/policy/policy.ts';
import { ROUTE_NAME, VIA_DIRECT } from '../lib/policy/rule.ts';
import { DEFAULT_ROUTE, type Upstream, type Upstreams } from '../lib/server/upstreams.ts';

const NAMED = /^([a-z][a-z0-9_-]*)=(.*)$/is;

/**
 * `--upstream URL` (repeatable: a chain, first hop first) is the default route; `--upstream NAME=URL` adds
 * a hop to the upstream NAME, which a rule picks with `via=NAME`. Every `via=` of the rules must name one;
 * credentials stay in the URLs, never in rule text (which is logged).
 */
export function parseUpstreams(texts: readonly string[], policy: Policy): Upstreams | undefined {
  const chains = new Map<string, ProxyConfig[]>();
  for (const text of texts) {
    const named = NAMED.exec(text);
    const name = named ? (named[1] ?? '').toLowerCase() : DEFAULT_ROUTE;
    const url = named ? named[2] ?? '' : text;
    const shown = shownUpstream(text);
    if (named && !ROUTE_NAME.test(name)) throw usageError(`--upstream ${shown}: an upstream's name is a letter, then letters, digits, - or _ (at most 32)`);
    if (named && (name === VIA_DIRECT || name === DEFAULT_ROUTE)) throw usageError(`--upstream ${shown}: "${name}" is reserved (via=direct bypasses the upstreams; unnamed ones are the default)`);
    let proxy: ProxyConfig;
    try {
      proxy = parseProxyUrl(url);
    } catch (error) {
      throw usageError(`--upstream: ${(error as Error).message}`);
    }
    chains.set(name, [...chains.get(name) ?? [], proxy]);
  }
  for (const via of policy.routeNames()) {
    if (!chains.has(via)) throw usageError(`a rule routes via=${via}, but no ${via === DEFAULT_ROUTE ? 'unnamed --upstream URL' : `--upstream ${via}=URL`} is given`);
  }
  if (chains.size === 0) return undefined;
  const upstream = (name: string, hops: ProxyConfig[]): Upstream => ({ name, hops: hops as [ProxyConfig, ...ProxyConfig[]] });
  const named = new Map([...chains].filter(([name]) => name !== DEFAULT_ROUTE).map(([name, hops]) => [name, upstream(name, hops)]));
  const unnamed = chains.get(DEFAULT_ROUTE);
  return { default: unnamed ? upstream(DEFAULT_ROUTE, unnamed) : undefined, named };
}

/** An --upstream value with its password masked: `corp=socks5h://alice:***@gw:1080`. */
export function shownUpstream(text: string): string {
  const named = NAMED.exec(text);
  return named ? `${(named[1] ?? '').toLowerCase()}=${redact(named[2] ?? '')}` : redact(text);
}
