import { addressLength, readAddress, writeAddress, type Address, type ReadAddressOptions } from './address.ts';
import { Version } from './constants.ts';
import { CodecError, done, need, type Decoded } from './decoded.ts';

/** RFC 1928 §3, client → server:
 *  +----+----------+----------+
 *  |VER | NMETHODS | METHODS  |
 *  +----+----------+----------+
 *  | 1  |    1     | 1 to 255 |          */
export interface Greeting { readonly methods: readonly number[] }

/** RFC 1928 §3, server → client: VER METHOD */
export interface MethodSelection { readonly method: number }

/** RFC 1929 §2:
 *  +----+------+----------+------+----------+
 *  |VER | ULEN |  UNAME   | PLEN |  PASSWD  |
 *  +----+------+----------+------+----------+
 *  | 1  |  1   | 1 to 255 |  1   | 1 to 255 |      */
export interface UserPassRequest { readonly username: string; readonly password: string }

/** RFC 1929 §2, server → client: VER STATUS (0x00 success, anything else failure). */
export interface UserPassReply { readonly status: number }

/** RFC 1928 §4 request and §6 reply share one shape:
 *  +----+-----+-------+------+----------+----------+
 *  |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
 *  +----+-----+-------+------+----------+----------+
 *  | 1  |  1  | X'00' |  1   | Variable |    2     |
 *  (a reply has REP where the request has CMD, and BND.* for DST.*)  */
export interface Socks5Request { readonly command: number; readonly address: Address }
export interface Socks5Reply { readonly reply: number; readonly address: Address }

/** RFC 1928 §7:
 *  +----+------+------+----------+----------+----------+
 *  |RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
 *  +----+------+------+----------+----------+----------+
 *  | 2  |  1   |  1   | Variable |    2     | Variable |     */
export interface UdpDatagram { readonly frag: number; readonly address: Address; readonly payload: Uint8Array }

function expectVersion(buf: Uint8Array, offset: number, version: number, what: string): void {
  const got = buf[offset];
  if (got !== version) {
    throw new CodecError('bad-version', `${what}: expected version ${version}, got ${got ?? 'nothing'}`);
  }
}

export function decodeGreeting(buf: Uint8Array, offset = 0): Decoded<Greeting> {
  if (buf.length < offset + 2) return need(offset + 2 - buf.length);
  expectVersion(buf, offset, Version.SOCKS5, 'greeting');
  const count = buf[offset + 1] ?? 0;
  if (count === 0) throw new CodecError('bad-length', 'greeting offers no methods');
  const end = offset + 2 + count;
  if (buf.length < end) return need(end - buf.length);
  return done({ methods: Array.from(buf.subarray(offset + 2, end)) }, end - offset);
}

export function encodeGreeting(greeting: Greeting): Buffer {
  const { methods } = greeting;
  if (methods.length < 1 || methods.length > 255) throw new TypeError('a greeting offers 1-255 methods');
  const out = Buffer.allocUnsafe(2 + methods.length);
  out[0] = Version.SOCKS5;
  out[1] = methods.length;
  out.set(methods, 2);
  return out;
}

export function decodeMethodSelection(buf: Uint8Array, offset = 0): Decoded<MethodSelection> {
  if (buf.length < offset + 2) return need(offset + 2 - buf.length);
  expectVersion(buf, offset, Version.SOCKS5, 'method selection');
  return done({ method: buf[offset + 1] ?? 0 }, 2);
}

export function encodeMethodSelection(selection: MethodSelection): Buffer {
  return Buffer.from([Version.SOCKS5, selection.method]);
}

export function decodeUserPassRequest(buf: Uint8Array, offset = 0): Decoded<UserPassRequest> {
  if (buf.length < offset + 2) return need(offset + 2 - buf.length);
  expectVersion(buf, offset, Version.USERPASS, 'username/password request');
  const ulen = buf[offset + 1] ?? 0;
  const plenAt = offset + 2 + ulen;
  if (buf.length < plenAt + 1) return need(plenAt + 1 - buf.length);
  const plen = buf[plenAt] ?? 0;
  const end = plenAt + 1 + plen;
  if (buf.length < end) return need(end - buf.length);
  const text = (from: number, to: number): string => Buffer.from(buf.buffer, buf.byteOffset + from, to - from).toString('utf8');
  return done({ username: text(offset + 2, plenAt), password: text(plenAt + 1, end) }, end - offset);
}

export function encodeUserPassRequest(request: UserPassRequest): Buffer {
  const user = Buffer.from(request.username, 'utf8');
  const pass = Buffer.from(request.password, 'utf8');
  if (user.length > 255 || pass.length > 255) throw new TypeError('username and password are at most 255 bytes each');
  return Buffer.concat([Buffer.from([Version.USERPASS, user.length]), user, Buffer.from([pass.length]), pass]);
}

export function decodeUserPassReply(buf: Uint8Array, offset = 0): Decoded<UserPassReply> {
  if (buf.length < offset + 2) return need(offset + 2 - buf.length);
  expectVersion(buf, offset, Version.USERPASS, 'username/password reply');
  return done({ status: buf[offset + 1] ?? 0 }, 2);
}

export function encodeUserPassReply(reply: UserPassReply): Buffer {
  return Buffer.from([Version.USERPASS, reply.status]);
}

/** Request and reply differ only in the meaning of the second byte. */
function decodeRequestShape(buf: Uint8Array, offset: number, what: string, options?: ReadAddressOptions): Decoded<{ code: number; address: Address }> {
  if (buf.length < offset + 4) return need(offset + 4 - buf.length);
  expectVersion(buf, offset, Version.SOCKS5, what);
  if (buf[offset + 2] !== 0) throw new CodecError('bad-reserved', `${what}: reserved byte is not 0`);
  const address = readAddress(buf, offset + 3, options);
  if (!address.done) return address;
  return done({ code: buf[offset + 1] ?? 0, address: address.value }, 3 + address.length);
}

function encodeRequestShape(code: number, address: Address): Buffer {
  const out = Buffer.allocUnsafe(3 + addressLength(address));
  out[0] = Version.SOCKS5;
  out[1] = code;
  out[2] = 0;
  writeAddress(address, out, 3);
  return out;
}

export function decodeRequest(buf: Uint8Array, offset = 0): Decoded<Socks5Request> {
  const r = decodeRequestShape(buf, offset, 'request');
  return r.done ? done({ command: r.value.code, address: r.value.address }, r.length) : r;
}

export function encodeRequest(request: Socks5Request): Buffer {
  return encodeRequestShape(request.command, request.address);
}

/** BND.ADDR may be an empty name (the request's DST.ADDR may not): the shortest reply is 7 bytes. */
export function decodeReply(buf: Uint8Array, offset = 0): Decoded<Socks5Reply> {
  const r = decodeRequestShape(buf, offset, 'reply', { allowEmptyName: true });
  return r.done ? done({ reply: r.value.code, address: r.value.address }, r.length) : r;
}

export function encodeReply(reply: Socks5Reply): Buffer {
  return encodeRequestShape(reply.reply, reply.address);
}

/** A datagram arrives whole, so running short here means a truncated header: the caller drops it. */
export function decodeUdpDatagram(buf: Uint8Array, offset = 0): Decoded<UdpDatagram> {
  if (buf.length < offset + 4) return need(offset + 4 - buf.length);
  if (buf[offset] !== 0 || buf[offset + 1] !== 0) throw new CodecError('bad-reserved', 'UDP header: reserved bytes are not 0');
  const address = readAddress(buf, offset + 3);
  if (!address.done) return address;
  const headerEnd = offset + 3 + address.length;
  return done({ frag: buf[offset + 2] ?? 0, address: address.value, payload: buf.subarray(headerEnd) }, buf.length - offset);
}

/** The largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP) and over IPv6 without jumbograms (65535 - 8):
 * a SOCKS5 datagram's header and data must fit in it. */
export const MAX_UDP_PAYLOAD_IPV4 = 65_507;
export const MAX_UDP_PAYLOAD_IPV6 = 65_527;

export function udpHeaderLength(address: Address): number {
  return 3 + addressLength(address);
}

/** Writes RSV RSV FRAG ATYP ADDR PORT at `offset`; returns the offset past it. The out buffer must hold
 * udpHeaderLength(address) bytes there. */
export function writeUdpHeader(address: Address, frag: number, out: Uint8Array, offset: number): number {
  out[offset] = 0;
  out[offset + 1] = 0;
  out[offset + 2] = frag;
  return writeAddress(address, out, offset + 3);
}

/** The RFC 1928 §7 header alone, to send in front of a payload without copying it. */
export function encodeUdpHeader(address: Address, frag = 0): Buffer {
  const out = Buffer.allocUnsafe(udpHeaderLength(address));
  writeUdpHeader(address, frag, out, 0);
  return out;
}

export function encodeUdpDatagram(datagram: UdpDatagram): Buffer {
  const headerLength = udpHeaderLength(datagram.address);
  const out = Buffer.allocUnsafe(headerLength + datagram.payload.length);
  writeUdpHeader(datagram.address, datagram.frag, out, 0);
  out.set(datagram.payload, headerLength);
  return out;
}
