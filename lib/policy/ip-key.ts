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
  let high = 0; // the parts before the last, shifted into place
  let parts = 0;
  for (;;) {
    const first = text.charCodeAt(at);
    if (!(first >= 0x30 && first <= 0x39)) return -1; // every part starts with a digit (no sign, no space)
    let base = 10;
    if (first === 0x30) {
      const next = text.charCodeAt(at + 1) | 0x20;
      if (next === 0x78 /* x */ && isHexDigit(text.charCodeAt(at + 2))) { base = 16; at += 2; } else base = 8;
    }
    let value = 0;
    for (; at < end; at++) {
      const digit = digitValue(text.charCodeAt(at), base);
      if (digit < 0) break;
      value = value * base + digit;
      if (value > 0xffffffff) return -1;
    }
    if (at === end) {
      // The last part fills what the others left: a.b.c.d, a.b.c (c: 16 bits), a.b (b: 24 bits), a (32 bits).
      if (value > 0xffffffff / 2 ** (8 * parts)) return -1;
      return high + value;
    }
    if (text.charCodeAt(at) !== 0x2e /* . */ || parts === 3 || value > 0xff) return -1;
    high += value * 2 ** (8 * (3 - parts));
    parts++;
    at++;
  }
}

function isHexDigit(code: number): boolean {
  return digitValue(code, 16) >= 0;
}

function digitValue(code: number, base: number): number {
  let digit = -1;
  if (code >= 0x30 && code <= 0x39) digit = code - 0x30;
  else if ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x66) digit = (code | 0x20) - 0x61 + 10;
  return digit < base ? digit : -1;
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

  read(text: string): boolean {
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
