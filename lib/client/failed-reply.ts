import { Socks4Reply, Version } from '../codec/constants.ts';
import type { ProxyReply } from '../errors.ts';

/** What a proxy sent before it closed in the middle of a reply, when that much already says no: `05 05`,
 * `05 07 00 01` (small servers cut error replies short; RFC 1928 §6 has at least 10 bytes, SOCKS4 8). */
export function shortRefusal(received: Uint8Array, version: 4 | 5): ProxyReply | undefined {
  const [first, code] = received;
  if (code === undefined) return undefined;
  if (version === 5) return first === Version.SOCKS5 && code !== 0 ? { version, code, short: true } : undefined;
  const refusals: readonly number[] = [Socks4Reply.REJECTED, Socks4Reply.NO_IDENTD, Socks4Reply.IDENTD_MISMATCH];
  return (first === 0 || first === Version.SOCKS4) && refusals.includes(code) ? { version, code, short: true } : undefined;
}

const HTTP = Buffer.from('HTTP/');

/** An HTTP server (or HTTP proxy) answers a SOCKS greeting with a status line: "HTTP/1.1 400 Bad Request".
 * Returns that line, escaped for printing, or undefined when the bytes are not HTTP. */
export function httpStatusLine(received: Uint8Array): string | undefined {
  const have = Math.min(received.length, HTTP.length);
  if (have < 2 || !Buffer.from(received.subarray(0, have)).equals(HTTP.subarray(0, have))) return undefined;
  const text = Buffer.from(received.subarray(0, 80)).toString('latin1').split(/\r|\n/)[0] ?? '';
  return text.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
