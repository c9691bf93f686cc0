import { formatAddress } from '../lib/codec/address.ts';
import { usageError } from '../lib/errors.ts';
import { AddressSet, parseCidr, type Cidr } from '../lib/policy/address-set.ts';
import type { ListenAddress } from '../lib/server/server.ts';
import { flagOption } from './options.ts';
import { printWarning } from './output.ts';
import { markedListeners } from './serve-config.ts';

/** --proxy-protocol marks every listener; the config's `listeners:` may mark some (raw.proxyProtocolListeners). */
export function markProxyProtocol(listen: readonly ListenAddress[], raw: Readonly<Record<string, unknown>>): ListenAddress[] {
  const every = flagOption(raw.proxyProtocol);
  const some = markedListeners(raw.proxyProtocolListeners);
  return listen.map((address, position) => (every || some.has(position) ? { ...address, proxyProtocol: true } : address));
}

/** --proxy-protocol-from: the balancers' addresses. There is no default: a PROXY header lets its sender name
 * any client, so the operator says who may send one (and a list without such a listener is a mistake). */
export function parseProxyProtocolFrom(texts: readonly string[], listen: readonly ListenAddress[]): AddressSet | undefined {
  const listeners = listen.filter((address) => address.proxyProtocol).map(formatAddress);
  if (listeners.length === 0) {
    if (texts.length > 0) throw usageError('--proxy-protocol-from is given but no listener takes the PROXY protocol (add --proxy-protocol)');
    return undefined;
  }
  if (texts.length === 0) {
    throw usageError(`--proxy-protocol on ${listeners.join(', ')} needs --proxy-protocol-from CIDR (repeatable): the load balancers' addresses, the only peers whose PROXY header is believed`);
  }
  return AddressSet.of(texts.map((text): Cidr => {
    const cidr = parseCidr(text);
    if (typeof cidr === 'object') {
      if (cidr.masks.every((mask) => mask === 0)) printWarning(`--proxy-protocol-from ${text} believes a PROXY header from anyone: any client can name itself any address, and so pass the client rules and per-IP limits, and be logged as someone else (give the balancers' addresses)`);
      return cidr;
    }
    throw usageError(`bad --proxy-protocol-from "${text}": ${cidr ?? 'expected a CIDR or an IP address, e.g. 10.0.0.0/24 or 127.0.0.1'}`);
  }));
}
