import { AddressType } from './constants.ts';
import { CodecError, done, need, type Decoded } from './decoded.ts';
import { bytesToIpv4, bytesToIpv6, ipv4ToBytes, ipv6ToBytes } from './ip.ts';
import { isIP } from 'node:net';

/** A SOCKS address with its port: what DST/BND ADDR+PORT carry in requests, replies and UDP headers. */
export type Address =
  | { readonly type: 'ipv4'; readonly host: string; readonly port: number }
  | { readonly type: 'ipv6'; readonly host: string; readonly port: number }
  | { readonly type: 'domain'; readonly host: string; readonly port: number };

export const MAX_DOMAIN_LENGTH = 255;

/** The address type a host string stands for: an IP literal, or else a name. */
export function toAddress(host: string, port: number): Address {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  switch (isIP(bare)) {
    case 4: return { type: 'ipv4', host: bare, port };
    case 6: return { type: 'ipv6', host: bare, port };
    default: return { type: 'domain', host: bare, port };
  }
}

/** "host:port", with IPv6 in brackets. */
export function formatAddress(address: { host: string; port: number }): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** 0.0.0.0 or :: however it is spelled ("0:0:0:0:0:0:0:0", "::0"). */
export function isUnspecified(address: Address): boolean {
  if (address.type === 'ipv4') return address.host === '0.0.0.0';
  if (address.type !== 'ipv6') return false;
  const bytes = new Uint8Array(16);
  ipv6ToBytes(address.host, bytes, 0);
  return bytes.every((byte) => byte === 0);
}

export function addressLength(address: Address): number {
  switch (address.type) {
    case 'ipv4': return 1 + 4 + 2;
    case 'ipv6': return 1 + 16 + 2;
    case 'domain': return 1 + 1 + Buffer.byteLength(address.host) + 2;
  }
}

export interface ReadAddressOptions {
  /** Accept a zero-length name. A target must have a name, but some servers send an empty BND.ADDR name in
   * replies (`05 00 00 03 00 PORT`), which browsers and curl accept. */
  readonly allowEmptyName?: boolean;
}

/**
 * RFC 1928 §4/§5: ATYP, then 4 bytes (IPv4), 16 bytes (IPv6) or a length byte and that many bytes (domain),
 * then the port in network byte order.
 */
export function readAddress(buf: Uint8Array, offset: number, options: ReadAddressOptions = {}): Decoded<Address> {
  if (buf.length < offset + 1) return need(offset + 1 - buf.length);
  const atyp = buf[offset];
  let hostLength: number;
  let hostStart = offset + 1;
  switch (atyp) {
    case AddressType.IPV4: hostLength = 4; break;
    case AddressType.IPV6: hostLength = 16; break;
    case AddressType.DOMAIN: {
      if (buf.length < offset + 2) return need(offset + 2 - buf.length);
      hostLength = buf[offset + 1] ?? 0;
      if (hostLength === 0 && !options.allowEmptyName) throw new CodecError('bad-length', 'empty domain name');
      hostStart = offset + 2;
      break;
    }
    default:
      throw new CodecError('bad-address-type', `unknown address type 0x${(atyp ?? 0).toString(16)}`);
  }
  const end = hostStart + hostLength + 2;
  if (buf.length < end) return need(end - buf.length);
  const port = ((buf[end - 2] ?? 0) << 8) | (buf[end - 1] ?? 0);
  const length = end - offset;
  switch (atyp) {
    case AddressType.IPV4: return done({ type: 'ipv4', host: bytesToIpv4(buf, hostStart), port }, length);
    case AddressType.IPV6: return done({ type: 'ipv6', host: bytesToIpv6(buf, hostStart), port }, length);
    default: {
      const host = Buffer.from(buf.buffer, buf.byteOffset + hostStart, hostLength).toString('utf8');
      return done({ type: 'domain', host, port }, length);
    }
  }
}

/** Writes the address at offset and returns the offset after it. Throws TypeError on values that cannot be
 * encoded (a caller's bug or bad user input, never peer input). */
export function writeAddress(address: Address, out: Uint8Array, offset: number): number {
  let at = offset;
  switch (address.type) {
    case 'ipv4':
      out[at++] = AddressType.IPV4;
      ipv4ToBytes(address.host, out, at);
      at += 4;
      break;
    case 'ipv6':
      out[at++] = AddressType.IPV6;
      ipv6ToBytes(address.host, out, at);
      at += 16;
      break;
    case 'domain': {
      const name = Buffer.from(address.host, 'utf8');
      if (name.length === 0 || name.length > MAX_DOMAIN_LENGTH) {
        throw new TypeError(`domain name must be 1-${MAX_DOMAIN_LENGTH} bytes: ${name.length}`);
      }
      out[at++] = AddressType.DOMAIN;
      out[at++] = name.length;
      out.set(name, at);
      at += name.length;
      break;
    }
  }
  checkPort(address.port);
  out[at++] = address.port >>> 8;
  out[at++] = address.port & 0xff;
  return at;
}

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new TypeError(`port out of range: ${port}`);
}
