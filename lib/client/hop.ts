import type { SocxErrorDetails } from '../errors.ts';
import { describeProxy, type ProxyConfig } from './proxy-url.ts';

/** One line of a handshake trace (`-v`): a message sent (`> …`), received (`< …`) or a step (`* …`). */
export type Trace = (line: string) => void;

/** A proxy in its place in a chain: messages name it "hop 2 (socks5h://b:1080)" when there is more than one,
 * and trace lines get a "[hop 2] " prefix. */
export interface Hop {
  readonly proxy: ProxyConfig;
  /** 1 = the first hop, the one the client dials. */
  readonly index: number;
  readonly count: number;
  /** Undefined when tracing is off, so that building a line costs nothing then. */
  readonly trace: Trace | undefined;
}

export function hopsOf(proxies: readonly ProxyConfig[], trace: Trace | undefined): Hop[] {
  const count = proxies.length;
  return proxies.map((proxy, i) => ({
    proxy,
    index: i + 1,
    count,
    trace: trace && count > 1 ? (line: string) => trace(`[hop ${i + 1}] ${line}`) : trace,
  }));
}

/** The hop's name in a message: `lone` (how messages have always named a single proxy) or "hop N (url)". */
export function hopName(hop: Hop, lone: string): string {
  return hop.count === 1 ? lone : `hop ${hop.index} (${describeProxy(hop.proxy)})`;
}

/** The SocxError details that tie an error to its hop. */
export function hopDetails(hop: Hop): Pick<SocxErrorDetails, 'proxy' | 'hop' | 'beforeLastHop'> {
  return hop.count === 1 ? { proxy: describeProxy(hop.proxy) } : { proxy: describeProxy(hop.proxy), hop: hop.index, beforeLastHop: hop.index < hop.count };
}
