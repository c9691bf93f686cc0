import { isIP } from 'node:net';
import { IpKey } from './ip-key.ts';

/**
 * A set of addresses as precompiled CIDRs: IPv4 as (value, mask) pairs, IPv6 as four value words then four
 * mask words, all int32 in flat arrays, so a lookup is a few AND-and-compare steps with no allocation.
 * `except` carves addresses out (the cloud metadata addresses out of `private`).
 */
export class AddressSet {
  private readonly v4: Int32Array;
  private readonly v6: Int32Array;
  private readonly all: boolean;
  private readonly except: AddressSet | undefined;

  private constructor(v4: Int32Array, v6: Int32Array, all: boolean, except: AddressSet | undefined) {
    this.v4 = v4;
    this.v6 = v6;
    this.all = all;
    this.except = except;
  }

  static readonly ANY = new AddressSet(new Int32Array(0), new Int32Array(0), true, undefined);

  static of(cidrs: readonly Cidr[], except?: AddressSet): AddressSet {
    const v4: number[] = [];
    const v6: number[] = [];
    for (const cidr of cidrs) {
      if (cidr.family === 4) v4.push(cidr.words[0] ?? 0, cidr.masks[0] ?? 0);
      else v6.push(...cidr.words, ...cidr.masks);
    }
    return new AddressSet(Int32Array.from(v4), Int32Array.from(v6), false, except);
  }

  has(key: IpKey): boolean {
    if (this.all) return true;
    if (key.family === 0) return false;
    return this.includes(key) && (this.except === undefined || !this.except.has(key));
  }

  private includes(key: IpKey): boolean {
    if (key.family === 4) {
      const address = key.v4;
      const table = this.v4;
      for (let i = 0; i < table.length; i += 2) {
        if ((address & (table[i + 1] ?? 0)) === table[i]) return true;
      }
      return false;
    }
    const words = key.v6;
    const a0 = words[0] ?? 0;
    const a1 = words[1] ?? 0;
    const a2 = words[2] ?? 0;
    const a3 = words[3] ?? 0;
    const table = this.v6;
    for (let i = 0; i < table.length; i += 8) {
      if ((a0 & (table[i + 4] ?? 0)) === table[i] && (a1 & (table[i + 5] ?? 0)) === table[i + 1]
        && (a2 & (table[i + 6] ?? 0)) === table[i + 2] && (a3 & (table[i + 7] ?? 0)) === table[i + 3]) return true;
    }
    return false;
  }
}

export interface Cidr { readonly family: 4 | 6; readonly words: readonly number[]; readonly masks: readonly number[] }

/**
 * "10.0.0.0/8", "fe80::/10", or a bare address (/32, /128). Strict: dotted-quad IPv4 only, no zone, no host
 * bits set beyond the prefix (a typo like 10.0.0.1/8 is an error, not a silent 10.0.0.0/8). An IPv6 CIDR
 * inside ::ffff:0:0/96 is the IPv4 CIDR it spells, as mapped addresses are read as IPv4 (IpKey).
 * Returns what is wrong as a string (so that the caller can name the rule it came from), or undefined when
 * the text is not an address at all.
 */
export function parseCidr(text: string): Cidr | string | undefined {
  const slash = text.indexOf('/');
  const host = slash < 0 ? text : text.slice(0, slash);
  if (host.includes('%')) return `${host}: an address in a rule takes no zone (%…)`;
  const family = isIP(host);
  if (family === 0) return undefined;
  const bits = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix <= bits)) return `the prefix length in ${text} must be 0-${bits}`;
  const key = new IpKey();
  key.read(host);
  let cidr: Cidr;
  if (family === 4 || key.family === 4) {
    if (family === 6 && prefix < 96) return `${text} mixes IPv4-mapped and other IPv6 addresses: write an IPv4 and an IPv6 rule`;
    const v4Prefix = family === 4 ? prefix : prefix - 96;
    cidr = { family: 4, words: [key.v4], masks: [maskWord(v4Prefix)] };
  } else {
    const masks = [0, 1, 2, 3].map((i) => maskWord(Math.min(32, Math.max(0, prefix - 32 * i))));
    cidr = { family: 6, words: [...key.v6], masks };
  }
  if (cidr.words.some((word, i) => (word & (cidr.masks[i] ?? 0)) !== word)) {
    return `${text} has bits set after the /${prefix} prefix`;
  }
  return cidr;
}

/** The int32 mask of the first `prefix` bits of a 32-bit word. */
function maskWord(prefix: number): number {
  return prefix === 0 ? 0 : (-1 << (32 - prefix)) | 0;
}
