import { isIPv4, isIPv6 } from 'node:net';
import { CodecError, done, need, printable, type Decoded } from './decoded.ts';
import { bytesToIpv4, bytesToIpv6, canonicalIp, ipv4ToBytes, ipv6ToBytes } from './ip.ts';

/**
 * The PROXY protocol header a load balancer puts before a connection's first byte (HAProxy's
 * doc/proxy-protocol.txt): version 1, one line of text, and version 2, binary; which one is told by the first
 * bytes. The header is the whole point of the connection's first bytes: anything that is not exactly one is
 * malformed, since guessing would let a client that reaches the port directly claim any address.
 */

export interface Endpoint { readonly host: string; readonly port: number }

export interface ProxiedAddresses {
  readonly transport: 'tcp' | 'udp';
  readonly source: Endpoint;
  readonly destination: Endpoint;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** `local`: the balancer's own connection (a health check), not relayed for anyone. */
  readonly command: 'proxy' | 'local';
  /** The original connection; undefined when the header carries none to use (v1 UNKNOWN, v2 LOCAL, an
   * AF_UNSPEC or AF_UNIX family): then the connection's own addresses stand. */
  readonly addresses: ProxiedAddresses | undefined;
}

/** v2 only: type-length-value extensions (ALPN, authority, CRC32C, …); the decoder skips them. */
export interface ProxyTlv { readonly type: number; readonly value: Uint8Array }

/** §2.1: the longest v1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses and ports). */
export const MAX_V1_LENGTH = 107;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** §2.2: the v2 signature; the 13th byte holds the version (2) in its high nibble. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
const CR = 0x0d;
const LF = 0x0a;

export interface ProxyDecodeOptions {
  /** The longest v2 header (16 bytes + address block + TLVs) to take; longer ones are refused as too-long
   * before they are read (default: the protocol's 16 + 65535). */
  readonly maxLength?: number;
}

/** Either version, told apart by the first byte: 'P' begins v1, CR begins v2's signature. */
export function decodeProxyHeader(buf: Uint8Array, offset = 0, options: ProxyDecodeOptions = {}): Decoded<ProxyHeader> {
  if (buf.length <= offset) return need(1);
  if (buf[offset] === V1_PREFIX[0]) return decodeV1(buf, offset);
  if (buf[offset] === V2_SIGNATURE[0]) return decodeV2(buf, offset, options.maxLength ?? V2_FIXED + 0xffff);
  throw new CodecError('bad-signature', `not a PROXY protocol header (first byte 0x${(buf[offset] ?? 0).toString(16).padStart(2, '0')})`);
}

/** Whether the bytes there match `signature` as far as they go; the caller asks for the rest. */
function matchesSoFar(buf: Uint8Array, offset: number, signature: Uint8Array): boolean {
  const n = Math.min(signature.length, buf.length - offset);
  for (let i = 0; i < n; i++) if (buf[offset + i] !== signature[i]) return false;
  return true;
}

function decodeV1(buf: Uint8Array, offset: number): Decoded<ProxyHeader> {
  if (!matchesSoFar(buf, offset, V1_PREFIX)) throw new CodecError('bad-signature', 'not a PROXY protocol header (expected "PROXY ")');
  // §2.1: nothing is parsed before the CRLF, which must come within 107 bytes; a lone CR or LF is no end.
  // The CR is at most the 106th byte, so that the line with its LF fits in 107.
  const limit = Math.min(buf.length, offset + MAX_V1_LENGTH - 1);
  let cr = -1;
  for (let i = offset; i < limit; i++) {
    const byte = buf[i];
    if (byte === LF) throw new CodecError('bad-syntax', 'PROXY v1 line ends with LF without CR');
    if (byte === CR) { cr = i; break; }
  }
  if (cr < 0) {
    if (limit - offset >= MAX_V1_LENGTH - 1) throw new CodecError('too-long', `PROXY v1 line has no CRLF within ${MAX_V1_LENGTH} bytes`);
    return need(1);
  }
  if (cr + 1 >= buf.length) return need(1);
  if (buf[cr + 1] !== LF) throw new CodecError('bad-syntax', 'PROXY v1 line has CR without LF');
  const line = Buffer.from(buf.buffer, buf.byteOffset + offset, cr - offset).toString('latin1');
  return done(parseV1Line(line), cr + 2 - offset);
}

function parseV1Line(line: string): ProxyHeader {
  const fields = line.split(' ');
  const family = fields[1];
  // §2.1: after UNKNOWN anything up to the CRLF is ignored.
  if (family === 'UNKNOWN') return { version: 1, command: 'proxy', addresses: undefined };
  if (family !== 'TCP4' && family !== 'TCP6') throw new CodecError('bad-syntax', `PROXY v1: unknown protocol "${printable(family ?? '')}"`);
  if (fields.length !== 6) throw new CodecError('bad-syntax', 'PROXY v1 line is not "PROXY TCPn SRC DST SPORT DPORT"');
  const [, , source = '', destination = '', sourcePort = '', destinationPort = ''] = fields;
  const isFamily = family === 'TCP4' ? isDottedQuad : isV6Text;
  if (!isFamily(source) || !isFamily(destination)) throw new CodecError('bad-address-type', `PROXY v1: addresses are not ${family === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  return {
    version: 1,
    command: 'proxy',
    addresses: {
      transport: 'tcp',
      source: { host: canonicalIp(source), port: v1Port(sourcePort) },
      destination: { host: canonicalIp(destination), port: v1Port(destinationPort) },
    },
  };
}

/** §2.1: exactly four decimal numbers 0-255, without leading zeros (which some parsers read as octal). */
function isDottedQuad(text: string): boolean {
  return isIPv4(text) && text.split('.').every((part) => part === '0' || !part.startsWith('0'));
}

function isV6Text(text: string): boolean {
  return isIPv6(text) && !text.includes('%');
}

function v1Port(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 0xffff) throw new CodecError('bad-syntax', `PROXY v1: bad port "${printable(text)}"`);
  return Number(text);
}

// §2.2, the 14th byte: the address family in the high nibble, the transport in the low one.
const AF_INET = 1;
const AF_INET6 = 2;
const AF_UNIX = 3;
const ADDRESS_LENGTH = [0, 12, 36, 216] as const;

function decodeV2(buf: Uint8Array, offset: number, maxLength: number): Decoded<ProxyHeader> {
  if (!matchesSoFar(buf, offset, V2_SIGNATURE)) throw new CodecError('bad-signature', 'not a PROXY protocol header (bad v2 signature)');
  if (buf.length < offset + V2_FIXED) return need(offset + V2_FIXED - buf.length);
  const versionCommand = buf[offset + 12] ?? 0;
  if (versionCommand >> 4 !== 2) throw new CodecError('bad-version', `PROXY v2: version ${versionCommand >> 4}, expected 2`);
  const command = versionCommand & 0x0f;
  if (command > 1) throw new CodecError('bad-command', `PROXY v2: unknown command 0x${command.toString(16)}`);
  const familyTransport = buf[offset + 13] ?? 0;
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  if (family > AF_UNIX || transport > 2) throw new CodecError('bad-address-type', `PROXY v2: unknown family/transport 0x${familyTransport.toString(16).padStart(2, '0')}`);
  const length = ((buf[offset + 14] ?? 0) << 8) | (buf[offset + 15] ?? 0);
  const total = V2_FIXED + length;
  if (total > maxLength) throw new CodecError('too-long', `PROXY v2 header of ${total} bytes is over the ${maxLength}-byte limit`);
  if (buf.length < offset + total) return need(offset + total - buf.length);
  // §2.2: LOCAL discards the address block whatever it holds, family included.
  if (command === 0) return done({ version: 2, command: 'local', addresses: undefined }, total);
  // An unspecified family or transport: the receiver ignores the address information (§2.2), TLVs included.
  const addressLength = transport === 0 ? 0 : ADDRESS_LENGTH[family] ?? 0;
  if (addressLength === 0) return done({ version: 2, command: 'proxy', addresses: undefined }, total);
  if (length < addressLength) throw new CodecError('bad-length', `PROXY v2: ${length} bytes cannot hold the ${addressLength}-byte address block`);
  skipTlvs(buf, offset + V2_FIXED + addressLength, offset + total);
  if (family === AF_UNIX) return done({ version: 2, command: 'proxy', addresses: undefined }, total);
  const at = offset + V2_FIXED;
  const read = family === AF_INET ? bytesToIpv4 : bytesToIpv6;
  const size = family === AF_INET ? 4 : 16;
  const portAt = at + 2 * size;
  const addresses: ProxiedAddresses = {
    transport: transport === 1 ? 'tcp' : 'udp',
    source: { host: canonicalIp(read(buf, at)), port: ((buf[portAt] ?? 0) << 8) | (buf[portAt + 1] ?? 0) },
    destination: { host: canonicalIp(read(buf, at + size)), port: ((buf[portAt + 2] ?? 0) << 8) | (buf[portAt + 3] ?? 0) },
  };
  return done({ version: 2, command: 'proxy', addresses }, total);
}

/** TLVs are skipped, but their lengths must add up to the header's: a header that does not is malformed. */
function skipTlvs(buf: Uint8Array, from: number, end: number): void {
  let at = from;
  while (at < end) {
    if (at + 3 > end) throw new CodecError('bad-length', 'PROXY v2: a TLV is cut short by the header length');
    at += 3 + (((buf[at + 1] ?? 0) << 8) | (buf[at + 2] ?? 0));
    if (at > end) throw new CodecError('bad-length', 'PROXY v2: a TLV runs past the header length');
  }
}

/** A header to send: v1 text (TCP only) or v2 binary, with TLVs for v2 if given. Throws TypeError on values
 * that cannot be encoded. */
export function encodeProxyHeader(header: ProxyHeader, tlvs: readonly ProxyTlv[] = []): Buffer {
  return header.version === 1 ? encodeV1(header) : encodeV2(header, tlvs);
}

function encodeV1(header: ProxyHeader): Buffer {
  if (header.command !== 'proxy') throw new TypeError('PROXY v1 has no LOCAL command');
  const { addresses } = header;
  if (!addresses) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  if (addresses.transport !== 'tcp') throw new TypeError('PROXY v1 carries TCP only');
  const v4 = isIPv4(addresses.source.host);
  if (v4 !== isIPv4(addresses.destination.host)) throw new TypeError('PROXY source and destination must be of one family');
  const host = (endpoint: Endpoint): string => (v4 ? endpoint.host : canonicalV6(endpoint.host));
  const line = `PROXY ${v4 ? 'TCP4' : 'TCP6'} ${host(addresses.source)} ${host(addresses.destination)} ${checkedPort(addresses.source.port)} ${checkedPort(addresses.destination.port)}\r\n`;
  return Buffer.from(line, 'latin1');
}

/** IPv6 text as the decoder gives it back (RFC 5952), so that a round trip is exact. */
function canonicalV6(text: string): string {
  const bytes = new Uint8Array(16);
  ipv6ToBytes(text, bytes, 0);
  return bytesToIpv6(bytes, 0);
}

function checkedPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new TypeError(`port out of range: ${port}`);
  return port;
}

function encodeV2(header: ProxyHeader, tlvs: readonly ProxyTlv[]): Buffer {
  const { addresses } = header;
  const v4 = addresses ? isIPv4(addresses.source.host) : false;
  if (addresses && v4 !== isIPv4(addresses.destination.host)) throw new TypeError('PROXY source and destination must be of one family');
  const size = addresses ? (v4 ? 4 : 16) : 0;
  const addressLength = addresses ? 2 * size + 4 : 0;
  const tlvLength = tlvs.reduce((sum, tlv) => sum + 3 + tlv.value.length, 0);
  const length = addressLength + tlvLength;
  if (length > 0xffff) throw new TypeError('PROXY v2 header is over 65535 bytes');
  const out = Buffer.alloc(V2_FIXED + length);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20 | (header.command === 'proxy' ? 1 : 0);
  out[13] = addresses ? (((v4 ? AF_INET : AF_INET6) << 4) | (addresses.transport === 'tcp' ? 1 : 2)) : 0;
  out.writeUInt16BE(length, 14);
  if (addresses) {
    const write = v4 ? ipv4ToBytes : ipv6ToBytes;
    write(addresses.source.host, out, V2_FIXED);
    write(addresses.destination.host, out, V2_FIXED + size);
    out.writeUInt16BE(checkedPort(addresses.source.port), V2_FIXED + 2 * size);
    out.writeUInt16BE(checkedPort(addresses.destination.port), V2_FIXED + 2 * size + 2);
  }
  let at = V2_FIXED + addressLength;
  for (const tlv of tlvs) {
    out[at] = tlv.type;
    out.writeUInt16BE(tlv.value.length, at + 1);
    out.set(tlv.value, at + 3);
    at += 3 + tlv.value.length;
  }
  return out;
}
