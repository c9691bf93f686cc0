import { isIP } from 'node:net';
import { usageError } from '../errors.ts';
import type { ListenAddress } from './server.ts';

export const DEFAULT_LISTEN_HOST = '127.0.0.1';
export const DEFAULT_PORT = 1080;

/** `[host:]port`: "1080", "0.0.0.0:1080", "[::1]:1080", "localhost:0"; a bare host means port 1080. */
export function parseListenAddress(text: string): ListenAddress {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
    if (isIP(host) !== 6) throw usageError(`bad IPv6 address in --listen "${text}"`);
  } else if (/^\d+$/.test(text)) {
    host = DEFAULT_LISTEN_HOST;
    portText = text;
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
  }
  const port = portText === undefined ? DEFAULT_PORT : /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (host === '' || !(port >= 0 && port <= 65535)) throw usageError(`bad --listen "${text}": expected [host:]port, e.g. 127.0.0.1:1080 or [::1]:0`);
  return { host, port };
}

/** Loopback only: 127.0.0.0/8, ::1, ::ffff:127.x, and "localhost". */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return /^::ffff:127\./i.test(host);
}
