import { ipv6ToBytes } from '../codec/ip.ts';

/**
 * IPv4 text as getaddrinfo reads it (glibc's inet_aton_exact, which getaddrinfo uses since 2.28): one to four
 * dot-separated parts, each decimal, octal (leading 0) or hex (0x), the last filling the remaining bytes —
 * "127.1", "2130706433", "0x7f000001", "0177.0.0.1" are all 127.0.0.1. Returns the address as an unsigned
 * 32-bit number, or -1. No allocation: this runs on every policy check.
 */
export function parseInetAton(text: string): number {
  const end = text.length;
  let at = 0;
  let high = 0; // the parts before the last, one byte each
  let parts = 0;
  for (;;) {
    // Reads past the end are -1, not charCodeAt's NaN: one number type keeps the loops fast.
    let code = at < end ? text.charCodeAt(at) : -1;
    if (!(code >= 0x30 && code <= 0x39)) return -1; // every part starts with a digit (no sign, no space)
    let value = 0;
    if (code !== 0x30) {
      while (code >= 0x30 && code <= 0x39) {
        value = value * 10 + code - 0x30;
        code = ++at < end ? text.charCodeAt(at) : -1;
      }
    } else if (at + 2 < end && (text.charCodeAt(at + 1) | 0x20) === 0x78 /* x */ && hexValue(text.charCodeAt(at + 2)) >= 0) {
      at += 2;
      code = text.charCodeAt(at);
      for (let digit = hexValue(code); digit >= 0; digit = hexValue(code)) {
        value = value * 16 + digit;
        code = ++at < end ? text.charCodeAt(at) : -1;
      }
    } else {
      while (code >= 0x30 && code <= 0x37) {
        value = value * 8 + code - 0x30;
        code = ++at < end ? text.charCodeAt(at) : -1;
      }
    }
    // No overflow check in the loops: a double only grows with more digits, so too many still compare as too big.
    if (at === end) {
      // The last part fills what the others left: a.b.c.d, a.b.c (c: 16 bits), a.b (b: 24 bits), a (32 bits).
      const room = FILL[parts] ?? 1;
      return value < room ? high * room + value : -1;
    }
    if (code !== 0x2e /* . */ || parts === 3 || value > 0xff) return -1;
    high = high * 256 + value;
    parts++;
    at++;
  }
}

/** 2 ** (8 * (4 - parts)): how many values the last part may take after `parts` dotted ones. */
const FILL = [2 ** 32, 2 ** 24, 2 ** 16, 2 ** 8];

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * An IP address as numbers, read in place so that a check allocates nothing: IPv4 as one 32-bit word, IPv6 as
 * four (big-endian words, as signed int32 like every JS bitwise result). An IPv4-mapped address
 * (::ffff:a.b.c.d) and an IPv4-compatible one (::a.b.c.d, but not :: or ::1) are read as the IPv4 address
 * they carry: a dual-stack socket dials ::ffff:127.0.0.1 as 127.0.0.1, so a rule about 127.0.0.0/8 must see it.
 */
export class IpKey {
  /** 0: the last text read was not an IP address. */
  family: 0 | 4 | 6 = 0;
  v4 = 0;
  readonly v6 = new Int32Array(4);
  private readonly bytes = new Uint8Array(16);
  /** The text last read: the fields hold its reading, so the same address again (a UDP stream's destination,
   * its client) costs a string comparison, not a parse. */
  private text: string | undefined;

  read(text: string): boolean {
    if (text === this.text) return this.family !== 0;
    this.text = text;
    if (text.indexOf(':') < 0) {
      const value = parseInetAton(text);
      this.family = value < 0 ? 0 : 4;
      this.v4 = value | 0;
      return value >= 0;
    }
    // A zone ("fe80::1%eth0", as getaddrinfo returns link-local addresses) does not change which address it is.
    const zone = text.indexOf('%');
    try {
      ipv6ToBytes(zone < 0 ? text : text.slice(0, zone), this.bytes, 0);
    } catch {
      this.family = 0;
      return false;
    }
    const b = this.bytes;
    const w = this.v6;
    for (let i = 0; i < 4; i++) {
      w[i] = ((b[4 * i] ?? 0) << 24) | ((b[4 * i + 1] ?? 0) << 16) | ((b[4 * i + 2] ?? 0) << 8) | (b[4 * i + 3] ?? 0);
    }
    const last = w[3] ?? 0;
    if (w[0] === 0 && w[1] === 0 && (w[2] === 0xffff || (w[2] === 0 && last >>> 0 >= 2))) {
      this.family = 4;
      this.v4 = last;
    } else {
      this.family = 6;
    }
    return true;
  }
}

/** An IPv4 address held as a 32-bit number (parseInetAton's, or IpKey's v4 word, signed or not) in dotted form. */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

const reader = new IpKey();
const hex16 = (word: number, high: boolean): string => (high ? word >>> 16 : word & 0xffff).toString(16);
/** IPv6 text → its source, so that a client seen lately costs a Map lookup rather than a parse (~3 µs). */
const v6Sources = new Map<string, string>();
const MAX_V6_SOURCES = 4096;

/** The source a client's logins and name lookups are counted against: an IPv4 address (an IPv4-mapped one
 * included), or the /64 an IPv6 address is in, as `2001:db8:0:1::/64` (what one subscriber gets). */
export function clientSource(ip: string): string {
  if (!ip.includes(':')) return ip;
  let source = v6Sources.get(ip);
  if (source !== undefined) return source;
  source = readSource(ip);
  if (v6Sources.size >= MAX_V6_SOURCES) v6Sources.clear();
  v6Sources.set(ip, source);
  return source;
}

function readSource(ip: string): string {
  if (!reader.read(ip)) return ip;
  const { v4, v6 } = reader;
  if (reader.family === 4) return formatIpv4(v4);
  const [high = 0, low = 0] = v6;
  return `${hex16(high, true)}:${hex16(high, false)}:${hex16(low, true)}:${hex16(low, false)}::/64`;
}
