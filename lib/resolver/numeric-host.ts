import { isIPv4, isIPv6 } from 'node:net';
import { formatIpv4, parseInetAton } from '../policy/ip-key.ts';
import type { ResolvedAddress } from './types.ts';

/** The address a numeric host stands for, without any lookup, or undefined for a name: IP literals and the
 * inet_aton(3) spellings getaddrinfo accepts ("127.1", "0x7f000001"), so a name means the same here as
 * through the system resolver, and reaches the destination policy as the dotted quad it is. */
export function numericAddress(host: string): ResolvedAddress | undefined {
  if (isIPv4(host)) return { address: host, family: 4 };
  if (isIPv6(host)) return { address: host, family: 6 };
  const value = parseInetAton(host);
  return value < 0 ? undefined : { address: formatIpv4(value), family: 4 };
}
