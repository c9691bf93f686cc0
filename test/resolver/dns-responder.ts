/** A name server on loopback for the resolver tests and bench, so no test ever sends a query off the machine:
 * it answers A and AAAA questions from a table, with NXDOMAIN or SERVFAIL, or never (a blackhole). The codec
 * is the least RFC 1035 §4 needs: one question in, its bytes echoed, answers as compressed pointers to it. */

import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ipv4ToBytes, ipv6ToBytes } from '../../lib/codec/ip.ts';

export type DnsAnswer =
  | { readonly a?: readonly string[]; readonly aaaa?: readonly string[]; readonly ttl?: number }
  | 'nxdomain'
  | 'servfail'
  | 'blackhole';

export const QType = { A: 1, AAAA: 28 } as const;
const Rcode = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
const HEADER = 12;

export interface Question {
  readonly id: number;
  readonly flags: number;
  /** Lower case, without the root dot. */
  readonly name: string;
  readonly type: number;
  /** Offset just past QTYPE and QCLASS. */
  readonly end: number;
}

/** The first question of a query, or undefined when the message is too short or uses a pointer (queries don't). */
export function decodeQuestion(message: Buffer): Question | undefined {
  if (message.length < HEADER + 5 || message.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let offset = HEADER;
  for (;;) {
    const length = message[offset];
    if (length === undefined || length > 63) return undefined;
    offset += 1;
    if (length === 0) break;
    if (offset + length > message.length) return undefined;
    labels.push(message.toString('latin1', offset, offset + length));
    offset += length;
  }
  if (offset + 4 > message.length) return undefined;
  return { id: message.readUInt16BE(0), flags: message.readUInt16BE(2), name: labels.join('.').toLowerCase(), type: message.readUInt16BE(offset), end: offset + 4 };
}

/** A response echoing the question; `addresses` become records of the asked type, each pointing at QNAME. */
export function encodeResponse(query: Buffer, question: Question, rcode: number, addresses: readonly string[], ttl: number): Buffer {
  const size = question.type === QType.AAAA ? 16 : 4;
  const out = Buffer.alloc(question.end + addresses.length * (12 + size));
  query.copy(out, 0, 0, question.end);
  const opcodeAndRd = question.flags & 0x7900;
  out.writeUInt16BE(0x8000 | opcodeAndRd | 0x0400 | 0x0080 | rcode, 2); // QR, AA, RA
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(addresses.length, 6);
  out.writeUInt32BE(0, 8); // no authority, no additional (an EDNS OPT in the query is not echoed)
  let offset = question.end;
  for (const address of addresses) {
    out.writeUInt16BE(0xc000 | HEADER, offset);
    out.writeUInt16BE(question.type, offset + 2);
    out.writeUInt16BE(1, offset + 4); // IN
    out.writeUInt32BE(ttl, offset + 6);
    out.writeUInt16BE(size, offset + 10);
    if (size === 16) ipv6ToBytes(address, out, offset + 12);
    else ipv4ToBytes(address, out, offset + 12);
    offset += 12 + size;
  }
  return out;
}

export interface DnsResponder {
  /** "127.0.0.1:PORT", for dns.Resolver#setServers. */
  readonly server: string;
  readonly port: number;
  /** "A name" / "AAAA name", in the order received. */
  readonly queries: string[];
  close(): Promise<void>;
}

/** `answer` is asked per question; `type` is 'A', 'AAAA' or the numeric QTYPE of anything else. */
export function startDnsResponder(answer: (name: string, type: string) => DnsAnswer, host = '127.0.0.1', port = 0): Promise<DnsResponder> {
  const socket = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  const queries: string[] = [];
  socket.on('message', (message, peer) => {
    const question = decodeQuestion(message);
    if (question === undefined) return;
    const type = question.type === QType.AAAA ? 'AAAA' : question.type === QType.A ? 'A' : String(question.type);
    queries.push(`${type} ${question.name}`);
    const reply = answer(question.name, type);
    if (reply === 'blackhole') return;
    let response: Buffer;
    if (reply === 'nxdomain' || reply === 'servfail') {
      response = encodeResponse(message, question, reply === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.SERVFAIL, [], 0);
    } else {
      const addresses = question.type === QType.A ? reply.a ?? [] : question.type === QType.AAAA ? reply.aaaa ?? [] : [];
      response = encodeResponse(message, question, Rcode.NOERROR, addresses, reply.ttl ?? 60);
    }
    socket.send(response, peer.port, peer.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      const bound = socket.address().port;
      resolve({
        server: isIPv6(host) ? `[${host}]:${bound}` : `${host}:${bound}`,
        port: bound,
        queries,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}
