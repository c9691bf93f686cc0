/** Hex fixtures for the codec, named after the RFC 1928 / RFC 1929 / SOCKS4(a) cases they exercise.
 * Every vector is a valid message: decoding `hex` gives `value` using every byte, and encoding `value` gives
 * `hex` back exactly. */

import { type Address } from '../../lib/codec/address.ts';
import { type Decoded, type Decoder } from '../../lib/codec/decoded.ts';
import {
  decodeGreeting, decodeMethodSelection, decodeReply, decodeRequest, decodeUdpDatagram, decodeUserPassReply,
  decodeUserPassRequest, encodeGreeting, encodeMethodSelection, encodeReply, encodeRequest, encodeUdpDatagram,
  encodeUserPassReply, encodeUserPassRequest,
  type Greeting, type MethodSelection, type Socks5Reply, type Socks5Request, type UdpDatagram,
  type UserPassReply, type UserPassRequest,
} from '../../lib/codec/socks5.ts';
import {
  decodeSocks4Reply, decodeSocks4Request, encodeSocks4Reply, encodeSocks4Request,
  type Socks4Reply, type Socks4Request,
} from '../../lib/codec/socks4.ts';

export interface Codec<T> {
  readonly name: string;
  readonly decode: Decoder<T>;
  readonly encode: (value: T) => Buffer;
  /** A UDP datagram arrives whole: its decoder takes every byte after the header as payload, so it never
   * leaves trailing bytes and a prefix that holds the whole header already decodes (with a shorter payload). */
  readonly datagram: boolean;
}

function codec<T>(name: string, decode: Decoder<T>, encode: (value: T) => Buffer, datagram = false): Codec<T> {
  return { name, decode, encode, datagram };
}

export const codecs = {
  greeting: codec<Greeting>('greeting', decodeGreeting, encodeGreeting),
  methodSelection: codec<MethodSelection>('method selection', decodeMethodSelection, encodeMethodSelection),
  userPassRequest: codec<UserPassRequest>('RFC 1929 request', decodeUserPassRequest, encodeUserPassRequest),
  userPassReply: codec<UserPassReply>('RFC 1929 reply', decodeUserPassReply, encodeUserPassReply),
  request: codec<Socks5Request>('SOCKS5 request', decodeRequest, encodeRequest),
  reply: codec<Socks5Reply>('SOCKS5 reply', decodeReply, encodeReply),
  udp: codec<UdpDatagram>('UDP datagram', decodeUdpDatagram, encodeUdpDatagram, true),
  socks4Request: codec<Socks4Request>('SOCKS4 request', decodeSocks4Request, encodeSocks4Request),
  socks4Reply: codec<Socks4Reply>('SOCKS4 reply', decodeSocks4Reply, encodeSocks4Reply),
} as const;

/** Every decoder, type-erased, for properties that hold for all of them. */
export const allDecoders: ReadonlyArray<{ readonly name: string; readonly decode: Decoder<unknown>; readonly datagram: boolean }> =
  Object.values(codecs);

export interface Vector {
  readonly name: string;
  readonly codec: string;
  /** The message bytes as hex, without spaces. */
  readonly hex: string;
  readonly value: unknown;
  readonly decode: (buf: Uint8Array, offset?: number) => Decoded<unknown>;
  /** Encodes `value` with the vector's codec. */
  readonly encode: () => Buffer;
  readonly datagram: boolean;
  /** The shortest prefix that decodes: the whole message, or for a datagram its header. */
  readonly minLength: number;
}

function vec<T>(c: Codec<T>, name: string, hex: string, value: T, payloadLength = 0): Vector {
  const clean = hex.replace(/\s+/g, '').toLowerCase();
  return {
    name: `${c.name}: ${name}`,
    codec: c.name,
    hex: clean,
    value,
    decode: c.decode,
    encode: () => c.encode(value),
    datagram: c.datagram,
    minLength: clean.length / 2 - payloadLength,
  };
}

function udpVec(name: string, hex: string, value: UdpDatagram): Vector {
  return vec(codecs.udp, name, hex, value, value.payload.length);
}

/** The bytes of a hex fixture, as a plain Uint8Array (not a Buffer) so the codec is exercised on the type it
 * declares. */
export function bytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
}

export const ascii = (text: string): string => Buffer.from(text, 'latin1').toString('hex');

/** Decoded values hold Uint8Arrays (UDP payloads) whose class depends on the input's class; compare bytes only. */
export function canon(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex') };
  if (Array.isArray(value)) return value.map(canon);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, canon(v)]));
  }
  return value;
}

const port = (n: number): string => n.toString(16).padStart(4, '0');
const ipv4 = (host: string, p: number): Address => ({ type: 'ipv4', host, port: p });
const ipv6 = (host: string, p: number): Address => ({ type: 'ipv6', host, port: p });
const domain = (host: string, p: number): Address => ({ type: 'domain', host, port: p });
const domainHex = (host: string): string => `03 ${host.length.toString(16).padStart(2, '0')} ${ascii(host)}`;

/** A 255-byte name (the RFC 1928 maximum) made of 63-byte labels. */
export const LONGEST_NAME = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`;
if (LONGEST_NAME.length !== 255) throw new Error('LONGEST_NAME must be 255 bytes');

/** RFC 1928 §4 IPv6 cases: [text form the codec must produce, the 16 bytes]. */
export const IPV6_CASES: ReadonlyArray<readonly [string, string]> = [
  ['::1', '00000000 00000000 00000000 00000001'],
  ['::', '00000000 00000000 00000000 00000000'],
  ['2001:db8::1', '20010db8 00000000 00000000 00000001'],
  ['::ffff:1.2.3.4', '00000000 00000000 0000ffff 01020304'],
  // RFC 5952 §4.2.3: the longest run of zero groups is the one shortened.
  ['fe80::1:0:0:1', 'fe800000 00000000 00010000 00000001'],
  ['1:0:0:1::1', '00010000 00000001 00000000 00000001'],
  // RFC 5952 §4.2.3: on a tie the first run is shortened.
  ['1::2:0:0:3:4', '00010000 00000002 00000000 00030004'],
  // RFC 5952 §4.2.2: a single zero group is not shortened.
  ['1:2:3:4:5:6:0:8', '00010002 00030004 00050006 00000008'],
  // RFC 5952 §4.3: lower case.
  ['2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff', '20010db8 aaaabbbb ccccdddd eeeeffff'],
];

export const REPLY_NAMES: ReadonlyArray<readonly [number, string]> = [
  [0x00, 'succeeded'],
  [0x01, 'general SOCKS server failure'],
  [0x02, 'connection not allowed by ruleset'],
  [0x03, 'network unreachable'],
  [0x04, 'host unreachable'],
  [0x05, 'connection refused'],
  [0x06, 'TTL expired'],
  [0x07, 'command not supported'],
  [0x08, 'address type not supported'],
  [0x09, 'unknown reply 0x09'],
  [0xff, 'unknown reply 0xff'],
];

const { greeting, methodSelection, userPassRequest, userPassReply, request, reply, socks4Request, socks4Reply } = codecs;

export const vectors: readonly Vector[] = [
  // RFC 1928 §3: greeting
  vec(greeting, 'no authentication', '05 01 00', { methods: [0x00] }),
  vec(greeting, 'no authentication + username/password', '05 02 00 02', { methods: [0x00, 0x02] }),
  vec(greeting, 'GSSAPI', '05 01 01', { methods: [0x01] }),
  vec(greeting, 'all 255 methods', `05 ff ${Buffer.from(Array.from({ length: 255 }, (_, i) => i)).toString('hex')}`,
    { methods: Array.from({ length: 255 }, (_, i) => i) }),

  // RFC 1928 §3: method selection
  vec(methodSelection, 'no authentication (00)', '05 00', { method: 0x00 }),
  vec(methodSelection, 'username/password (02)', '05 02', { method: 0x02 }),
  vec(methodSelection, 'no acceptable methods (FF)', '05 ff', { method: 0xff }),

  // RFC 1929 §2
  vec(userPassRequest, 'alice / s3cret', `01 05 ${ascii('alice')} 06 ${ascii('s3cret')}`, { username: 'alice', password: 's3cret' }),
  vec(userPassRequest, '1-byte username and password', '01 01 75 01 70', { username: 'u', password: 'p' }),
  vec(userPassRequest, '255-byte username and password', `01 ff ${'75'.repeat(255)} ff ${'70'.repeat(255)}`,
    { username: 'u'.repeat(255), password: 'p'.repeat(255) }),
  vec(userPassReply, 'success (01 00)', '01 00', { status: 0x00 }),
  vec(userPassReply, 'failure (01 01)', '01 01', { status: 0x01 }),
  vec(userPassReply, 'failure (01 ff)', '01 ff', { status: 0xff }),

  // RFC 1928 §4: requests
  vec(request, 'CONNECT IPv4 127.0.0.1:80', '05 01 00 01 7f000001 0050', { command: 1, address: ipv4('127.0.0.1', 80) }),
  vec(request, 'BIND IPv4 0.0.0.0:0', '05 02 00 01 00000000 0000', { command: 2, address: ipv4('0.0.0.0', 0) }),
  vec(request, 'UDP ASSOCIATE IPv4 192.0.2.1:53', '05 03 00 01 c0000201 0035', { command: 3, address: ipv4('192.0.2.1', 53) }),
  vec(request, 'CONNECT IPv4 255.255.255.255:65535', '05 01 00 01 ffffffff ffff', { command: 1, address: ipv4('255.255.255.255', 65535) }),
  ...IPV6_CASES.map(([host, hex], i) => {
    const command = (i % 3) + 1;
    const p = 1000 + i;
    return vec(request, `${['CONNECT', 'BIND', 'UDP ASSOCIATE'][i % 3]} IPv6 [${host}]:${p}`, `05 0${command} 00 04 ${hex} ${port(p)}`,
      { command, address: ipv6(host, p) });
  }),
  vec(request, 'CONNECT domain example.com:443', `05 01 00 ${domainHex('example.com')} 01bb`, { command: 1, address: domain('example.com', 443) }),
  vec(request, 'BIND domain example.org:21', `05 02 00 ${domainHex('example.org')} 0015`, { command: 2, address: domain('example.org', 21) }),
  vec(request, 'UDP ASSOCIATE domain localhost:0', `05 03 00 ${domainHex('localhost')} 0000`, { command: 3, address: domain('localhost', 0) }),
  vec(request, 'CONNECT 1-byte domain a:80', '05 01 00 03 01 61 0050', { command: 1, address: domain('a', 80) }),
  vec(request, 'CONNECT 255-byte domain', `05 01 00 03 ff ${ascii(LONGEST_NAME)} 01bb`, { command: 1, address: domain(LONGEST_NAME, 443) }),
  // CMD values the RFC does not define are data for the server to answer with REP 0x07, not a decode error.
  vec(request, 'unknown CMD 0x04', '05 04 00 01 7f000001 0050', { command: 4, address: ipv4('127.0.0.1', 80) }),
  vec(request, 'unknown CMD 0xFF', '05 ff 00 01 7f000001 0050', { command: 0xff, address: ipv4('127.0.0.1', 80) }),
  vec(request, 'CMD 0x00', '05 00 00 01 7f000001 0050', { command: 0, address: ipv4('127.0.0.1', 80) }),

  // RFC 1928 §6: replies, every REP the RFC defines and two it does not
  vec(reply, 'REP 00 succeeded, BND 10.0.0.1:1080', '05 00 00 01 0a000001 0438', { reply: 0, address: ipv4('10.0.0.1', 1080) }),
  vec(reply, 'REP 01 general failure', '05 01 00 01 00000000 0000', { reply: 1, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP 02 not allowed by ruleset', '05 02 00 01 00000000 0000', { reply: 2, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP 03 network unreachable', '05 03 00 01 00000000 0000', { reply: 3, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP 04 host unreachable', `05 04 00 04 ${'00'.repeat(16)} 0000`, { reply: 4, address: ipv6('::', 0) }),
  vec(reply, 'REP 05 connection refused', '05 05 00 01 00000000 0000', { reply: 5, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP 06 TTL expired', '05 06 00 01 00000000 0000', { reply: 6, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP 07 command not supported', '05 07 00 01 00000000 0000', { reply: 7, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP 08 address type not supported', '05 08 00 01 00000000 0000', { reply: 8, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP 09 (unassigned) decodes as data', '05 09 00 01 00000000 0000', { reply: 9, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP FF (unassigned) decodes as data', '05 ff 00 01 00000000 0000', { reply: 0xff, address: ipv4('0.0.0.0', 0) }),
  vec(reply, 'REP 00 BND IPv6 [2001:db8::1]:1080', `05 00 00 04 20010db8000000000000000000000001 0438`, { reply: 0, address: ipv6('2001:db8::1', 1080) }),
  vec(reply, 'REP 00 BND domain proxy.example:1080', `05 00 00 ${domainHex('proxy.example')} 0438`, { reply: 0, address: domain('proxy.example', 1080) }),

  // RFC 1928 §7: UDP request header (the decoder takes all the rest as DATA)
  udpVec('FRAG 0, IPv4 192.0.2.1:53, "hello"', `0000 00 01 c0000201 0035 ${ascii('hello')}`,
    { frag: 0, address: ipv4('192.0.2.1', 53), payload: new Uint8Array(Buffer.from('hello')) }),
  udpVec('FRAG 0, IPv6 [::1]:53, empty DATA', `0000 00 04 ${'00'.repeat(15)}01 0035`,
    { frag: 0, address: ipv6('::1', 53), payload: new Uint8Array(0) }),
  udpVec('FRAG 1 (fragment) decodes as data, domain example.com:80', `0000 01 ${domainHex('example.com')} 0050 deadbeef`,
    { frag: 1, address: domain('example.com', 80), payload: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) }),
  udpVec('FRAG 0x81 (end-of-sequence bit) decodes as data', `0000 81 01 0a000001 1f90 00`,
    { frag: 0x81, address: ipv4('10.0.0.1', 8080), payload: new Uint8Array([0]) }),

  // SOCKS4 requests
  vec(socks4Request, 'CONNECT 1.2.3.4:80, no USERID', '04 01 0050 01020304 00',
    { command: 1, address: ipv4('1.2.3.4', 80), userId: '' }),
  vec(socks4Request, 'CONNECT 1.2.3.4:80, USERID fred', `04 01 0050 01020304 ${ascii('fred')} 00`,
    { command: 1, address: ipv4('1.2.3.4', 80), userId: 'fred' }),
  vec(socks4Request, 'BIND 192.0.2.1:8080, no USERID', '04 02 1f90 c0000201 00',
    { command: 2, address: ipv4('192.0.2.1', 8080), userId: '' }),
  vec(socks4Request, 'BIND 192.0.2.1:8080, USERID alice', `04 02 1f90 c0000201 ${ascii('alice')} 00`,
    { command: 2, address: ipv4('192.0.2.1', 8080), userId: 'alice' }),
  vec(socks4Request, 'CONNECT, 255-byte USERID', `04 01 0050 01020304 ${'41'.repeat(255)} 00`,
    { command: 1, address: ipv4('1.2.3.4', 80), userId: 'A'.repeat(255) }),
  vec(socks4Request, 'unknown CD 0x03 decodes as data', '04 03 0050 01020304 00',
    { command: 3, address: ipv4('1.2.3.4', 80), userId: '' }),
  vec(socks4Request, 'SOCKS4a CONNECT example.com:80, no USERID', `04 01 0050 00000001 00 ${ascii('example.com')} 00`,
    { command: 1, address: domain('example.com', 80), userId: '' }),
  vec(socks4Request, 'SOCKS4a CONNECT example.com:443, USERID fred', `04 01 01bb 00000001 ${ascii('fred')} 00 ${ascii('example.com')} 00`,
    { command: 1, address: domain('example.com', 443), userId: 'fred' }),
  vec(socks4Request, 'SOCKS4a BIND a:21, 1-byte host name', `04 02 0015 00000001 00 61 00`,
    { command: 2, address: domain('a', 21), userId: '' }),
  vec(socks4Request, 'SOCKS4a CONNECT, 255-byte host name', `04 01 0050 00000001 00 ${ascii(LONGEST_NAME)} 00`,
    { command: 1, address: domain(LONGEST_NAME, 80), userId: '' }),

  // SOCKS4 replies
  vec(socks4Reply, '5A request granted', '00 5a 0050 01020304', { reply: 0x5a, port: 80, host: '1.2.3.4' }),
  vec(socks4Reply, '5B request rejected or failed', '00 5b 0000 00000000', { reply: 0x5b, port: 0, host: '0.0.0.0' }),
  vec(socks4Reply, '5C no identd', '00 5c 0000 00000000', { reply: 0x5c, port: 0, host: '0.0.0.0' }),
  vec(socks4Reply, '5D identd user-id mismatch', '00 5d ffff ffffffff', { reply: 0x5d, port: 65535, host: '255.255.255.255' }),
];
