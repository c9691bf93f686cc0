import { isIPv4, isIPv6 } from 'node:net';

/** The one place IP text and bytes are converted. */

export function ipv4ToBytes(text: string, out: Uint8Array, offset: number): void {
  if (!isIPv4(text)) throw new TypeError(`not an IPv4 address: ${text}`);
  const parts = text.split('.');
  for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
}

export function bytesToIpv4(buf: Uint8Array, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/** Writes the 16 bytes of an IPv6 address; accepts "::" runs and an embedded IPv4 tail ("::ffff:1.2.3.4"). */
export function ipv6ToBytes(text: string, out: Uint8Array, offset: number): void {
  if (!isIPv6(text) || text.includes('%')) throw new TypeError(`not an IPv6 address: ${text}`);
  const groups = ipv6Groups(text);
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? 0;
    out[offset + 2 * i] = g >>> 8;
    out[offset + 2 * i + 1] = g & 0xff;
  }
}

function ipv6Groups(text: string): number[] {
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const b = new Uint8Array(4);
        ipv4ToBytes(piece, b, 0);
        out.push(((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0));
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** RFC 5952 text: lower case, the longest run (of two or more) of zero groups as "::", IPv4-mapped as
 * "::ffff:a.b.c.d". */
export function bytesToIpv6(buf: Uint8Array, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((buf[offset + 2 * i] ?? 0) << 8) | (buf[offset + 2 * i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytesToIpv4(buf, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const text = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return text(groups);
  return `${text(groups.slice(0, bestStart))}::${text(groups.slice(bestStart + bestLength))}`;
}

/** One spelling per address, for comparing addresses and announcing them: RFC 5952 text for IPv6 with any
 * zone index dropped, and an IPv4-mapped address ("::ffff:1.2.3.4", how a dual-stack socket reports an IPv4
 * peer) as its IPv4 text. Anything that is not an IP literal comes back as it is. */
export function canonicalIp(text: string): string {
  if (isIPv4(text)) return text;
  const bare = text.split('%')[0] ?? text;
  if (!isIPv6(bare)) return text;
  const bytes = new Uint8Array(16);
  ipv6ToBytes(bare, bytes, 0);
  const canonical = bytesToIpv6(bytes, 0);
  return canonical.startsWith('::ffff:') && canonical.includes('.') ? canonical.slice('::ffff:'.length) : canonical;
}
