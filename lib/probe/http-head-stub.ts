// TEMPORARY until lib/codec/http-head.ts lands on main: the response head decoder and request encoder.
import { CodecError, done, need, type Decoded } from '../codec/decoded.ts';

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

export function decodeResponseHead(buf: Uint8Array, offset = 0): Decoded<ResponseHead> {
  const text = Buffer.from(buf.subarray(offset)).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) {
    if (text.length > 16384) throw new CodecError('too-long', 'HTTP head longer than 16 KiB');
    if (text.length >= 5 && !text.startsWith('HTTP/')) throw new CodecError('bad-version', 'not an HTTP response');
    return need(1);
  }
  const [line = '', ...rest] = text.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(line);
  if (!match) throw new CodecError('bad-version', 'bad HTTP status line');
  const headers = rest.map((h) => { const c = h.indexOf(':'); return [h.slice(0, c).trim(), h.slice(c + 1).trim()] as const; });
  return done({ status: Number(match[1]), reason: match[2] ?? '', headers }, end + 4);
}

export function encodeRequestHead(head: { method: string; target: string; headers: ReadonlyArray<readonly [string, string]> }): Buffer {
  return Buffer.from(`${head.method} ${head.target} HTTP/1.1\r\n${head.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1');
}
