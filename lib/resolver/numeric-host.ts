import { isIPv4, isIPv6 } from 'node:net';
import type { ResolvedAddress } from './types.ts';

const PART = /^(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;

/** The address a numeric host stands for, without any lookup, or undefined for a name. Besides IP literals
 * this takes the inet_aton(3) spellings getaddrinfo accepts ("127.1", "0x7f000001", "2130706433",
 * "0177.0.0.1"), so a name means the same here as through the system resolver, and reaches the destination
 * policy as the dotted quad it is. Exact: trailing characters make it a name (as glibc's inet_aton_exact). */
export function numericAddress(host: string): ResolvedAddress | undefined {
  if (isIPv4(host)) return { address: host, family: 4 };
  if (isIPv6(host)) return { address: host, family: 6 };
  const address = inetAton(host);
  return address === undefined ? undefined : { address, family: 4 };
}

function inetAton(host: string): string | undefined {
  const parts = host.split('.');
  if (parts.length > 4 || !parts.every((part) => PART.test(part))) return undefined;
  const values = parts.map((part) => (part.length > 1 && part[0] === '0' ? (part[1] === 'x' || part[1] === 'X' ? parseInt(part.slice(2), 16) : parseInt(part, 8)) : Number(part)));
  // The last part fills the bytes the others leave: a.b.c.d, a.b.(16 bits), a.(24 bits), (32 bits).
  const last = values.pop()!;
  if (values.some((value) => value > 0xff) || last >= 2 ** (8 * (4 - values.length))) return undefined;
  let number = last;
  values.forEach((value, i) => { number += value * 2 ** (8 * (3 - i)); });
  return [24, 16, 8, 0].map((shift) => Math.floor(number / 2 ** shift) % 256).join('.');
}
