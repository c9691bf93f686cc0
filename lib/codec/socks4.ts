import { type Address } from './address.ts';
import { Version } from './constants.ts';
import { CodecError, done, need, type Decoded } from './decoded.ts';
import { bytesToIpv4, ipv4ToBytes } from './ip.ts';

/** SOCKS4 request; SOCKS4a puts 0.0.0.x (x ≠ 0) in DSTIP and the host name after USERID:
 *  +----+----+----+----+----+----+----+----+----+----+....+----+ (4a: +....+----+)
 *  | VN | CD | DSTPORT |      DSTIP        | USERID       |NULL|      | HOST |NULL|
 *  +----+----+----+----+----+----+----+----+----+----+....+----+       +....+----+
 *     1    1      2              4           variable       1
 *  `address` is a domain for SOCKS4a, else IPv4.  */
export interface Socks4Request { readonly command: number; readonly address: Address; readonly userId: string }

/** SOCKS4 reply, always 8 bytes: VN(0) CD DSTPORT DSTIP. */
export interface Socks4Reply { readonly reply: number; readonly port: number; readonly host: string }

/** USERID and HOST are NUL-terminated with no stated limit; we bound each so a peer cannot make us buffer
 * without end. */
export const MAX_SOCKS4_FIELD = 255;

function findNul(buf: Uint8Array, from: number, what: string): number | undefined {
  const limit = Math.min(buf.length, from + MAX_SOCKS4_FIELD + 1);
  for (let i = from; i < limit; i++) if (buf[i] === 0) return i;
  if (buf.length > from + MAX_SOCKS4_FIELD) throw new CodecError('too-long', `SOCKS4 ${what} is longer than ${MAX_SOCKS4_FIELD} bytes`);
  return undefined;
}

function isSocks4a(buf: Uint8Array, ipAt: number): boolean {
  return buf[ipAt] === 0 && buf[ipAt + 1] === 0 && buf[ipAt + 2] === 0 && buf[ipAt + 3] !== 0;
}

export function decodeSocks4Request(buf: Uint8Array, offset = 0): Decoded<Socks4Request> {
  if (buf.length < offset + 9) return need(offset + 9 - buf.length);
  if (buf[offset] !== Version.SOCKS4) throw new CodecError('bad-version', `SOCKS4 request: expected version 4, got ${buf[offset]}`);
  const port = ((buf[offset + 2] ?? 0) << 8) | (buf[offset + 3] ?? 0);
  const userEnd = findNul(buf, offset + 8, 'USERID');
  if (userEnd === undefined) return need(1);
  const userId = Buffer.from(buf.buffer, buf.byteOffset + offset + 8, userEnd - offset - 8).toString('utf8');
  const command = buf[offset + 1] ?? 0;
  if (!isSocks4a(buf, offset + 4)) {
    return done({ command, userId, address: { type: 'ipv4', host: bytesToIpv4(buf, offset + 4), port } }, userEnd + 1 - offset);
  }
  const hostEnd = findNul(buf, userEnd + 1, 'host name');
  if (hostEnd === undefined) return need(1);
  if (hostEnd === userEnd + 1) throw new CodecError('bad-length', 'SOCKS4a request: empty host name');
  const host = Buffer.from(buf.buffer, buf.byteOffset + userEnd + 1, hostEnd - userEnd - 1).toString('utf8');
  return done({ command, userId, address: { type: 'domain', host, port } }, hostEnd + 1 - offset);
}

export function encodeSocks4Request(request: Socks4Request): Buffer {
  const { address } = request;
  if (address.type === 'ipv6') throw new TypeError('SOCKS4 cannot carry an IPv6 address');
  if (address.type === 'ipv4' && /^0\.0\.0\.(?!0$)/.test(address.host)) {
    throw new TypeError(`${address.host} is SOCKS4a's marker for "host name follows", not a destination`);
  }
  const user = Buffer.from(request.userId, 'utf8');
  const host = address.type === 'domain' ? Buffer.from(address.host, 'utf8') : undefined;
  if (user.includes(0) || user.length > MAX_SOCKS4_FIELD) throw new TypeError('SOCKS4 USERID must be at most 255 bytes without NUL');
  if (host && (host.length === 0 || host.includes(0) || host.length > MAX_SOCKS4_FIELD)) {
    throw new TypeError('SOCKS4a host name must be 1-255 bytes without NUL');
  }
  const out = Buffer.alloc(8 + user.length + 1 + (host ? host.length + 1 : 0));
  out[0] = Version.SOCKS4;
  out[1] = request.command;
  out.writeUInt16BE(address.port, 2);
  if (host) out[7] = 1;
  else ipv4ToBytes(address.host, out, 4);
  out.set(user, 8);
  if (host) out.set(host, 8 + user.length + 1);
  return out;
}

export function decodeSocks4Reply(buf: Uint8Array, offset = 0): Decoded<Socks4Reply> {
  if (buf.length < offset + 8) return need(offset + 8 - buf.length);
  // The reply's VN is 0; some servers send 4, which Java's SocksSocketImpl accepts (curl does not). An echo of
  // our request also starts with 4: `replyTo` tells that apart by the whole request coming back.
  if (buf[offset] !== 0 && buf[offset] !== Version.SOCKS4) {
    throw new CodecError('bad-version', `SOCKS4 reply: expected version 0, got ${buf[offset]}`);
  }
  const port = ((buf[offset + 2] ?? 0) << 8) | (buf[offset + 3] ?? 0);
  return done({ reply: buf[offset + 1] ?? 0, port, host: bytesToIpv4(buf, offset + 4) }, 8);
}

export function encodeSocks4Reply(reply: Socks4Reply): Buffer {
  const out = Buffer.alloc(8);
  out[1] = reply.reply;
  out.writeUInt16BE(reply.port, 2);
  ipv4ToBytes(reply.host, out, 4);
  return out;
}
