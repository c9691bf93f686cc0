import type { Address } from '../codec/address.ts';
import { Reply, Socks4Reply } from '../codec/constants.ts';
import { encodeSocks4Reply } from '../codec/socks4.ts';
import { encodeReply } from '../codec/socks5.ts';

const NO_ADDRESS: Address = { type: 'ipv4', host: '0.0.0.0', port: 0 };

/** A reply in SOCKS5 terms, in the client's version: SOCKS4 knows only granted (0x5A) and rejected (0x5B),
 * and carries IPv4 only. */
export function encodeServerReply(version: 4 | 5, code: number, bound: Address): Buffer {
  if (version === 5) return encodeReply({ reply: code, address: bound });
  return encodeSocks4Reply({
    reply: code === Reply.SUCCEEDED ? Socks4Reply.GRANTED : Socks4Reply.REJECTED,
    port: bound.type === 'ipv4' ? bound.port : 0,
    host: bound.type === 'ipv4' ? bound.host : '0.0.0.0',
  });
}

export function encodeFailure(version: 4 | 5, code: number): Buffer {
  return encodeServerReply(version, code, NO_ADDRESS);
}
