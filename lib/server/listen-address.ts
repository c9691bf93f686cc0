import { isIP } from 'node:net';
import { canonicalIp } from '../codec/ip.ts';
import type { Egress } from '../dial.ts';
import { errnoCode, socketErrorText, usageError } from '../errors.ts';
import type { ListenAddress } from './server.ts';

export const DEFAULT_LISTEN_HOST = '127.0.0.1';
export const DEFAULT_PORT = 1080;

const FORMS = 'expected [host:]port with an IP address or localhost, e.g. 1080, 127.0.0.1:1080, 0.0.0.0:1080 or [::1]:0';

/** `[host:]port`: "1080", "0.0.0.0:1080", "[::1]:1080", "::1", "localhost:0"; a bare host means port 1080
 * (`defaultPort`; null: a port is required). The host is an IP address or "localhost": a listener on a
 * name would depend on what it resolves to. */
export function parseListenAddress(text: string, option = 'listen', defaultPort: number | null = DEFAULT_PORT): ListenAddress {
  if (text.trim() === '') throw usageError(`--${option} needs an address: ${FORMS}`);
  const bad = (why: string): Error => usageError(`bad --${option} "${text}": ${why}`);
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (text.startsWith('[') || text.includes(']')) {
    if (!bracketed) throw bad('an IPv6 address goes in brackets, as [::1]:1080');
    host = bracketed[1] ?? '';
    portText = bracketed[2];
    if (isIP(host) !== 6) throw bad(`"${host}" is not an IPv6 address`);
  } else if (/^\d+$/.test(text)) {
    host = DEFAULT_LISTEN_HOST;
    portText = text;
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (host.includes(':')) throw bad('an IPv6 address with a port goes in brackets, as [::1]:1080');
    if (isIP(host) !== 4 && host !== 'localhost') throw bad(`"${host}" is not an IP address (${FORMS})`);
  }
  if (portText === undefined && defaultPort === null) throw bad('give a port too, as 127.0.0.1:9464');
  const port = portText === undefined ? defaultPort ?? DEFAULT_PORT : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) throw bad(`port must be 0-65535 (0 picks a free one), not "${portText ?? ''}"`);
  return { host, port };
}

/** Loopback only: 127.0.0.0/8, ::1, ::ffff:127.x, and "localhost". */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return /^::ffff:127\./i.test(host);
}

/** Whether clients from elsewhere reach the listener: it is not loopback-only, or a load balancer forwards
 * them to it (PROXY protocol). */
export function isExposed(address: ListenAddress): boolean {
  return !isLoopback(address.host) || address.proxyProtocol === true;
}

/** Plain words for a failed listen: privileges for a low port, an address this machine does not have. */
export function listenErrorText(error: unknown, addresses: readonly ListenAddress[]): string {
  const code = errnoCode(error);
  const low = addresses.filter((address) => address.port > 0 && address.port < 1024).map((address) => address.port);
  if ((code === 'EACCES' || code === 'EPERM') && low.length > 0) {
    return `port ${low.join(', ')} needs privileges (run as root, or grant CAP_NET_BIND_SERVICE: setcap cap_net_bind_service=+ep $(command -v socx)), or use a port from 1024`;
  }
  if (code === 'EADDRNOTAVAIL') return 'this machine has no such address';
  // server.ts makes IPv6 listeners IPv6-only (so that [::] leaves IPv4 to 0.0.0.0), and such a socket cannot
  // take ::ffff:a.b.c.d.
  const mapped = addresses.filter((address) => isIP(address.host) === 6 && isIP(canonicalIp(address.host)) === 4);
  if (code === 'EINVAL' && mapped.length > 0) {
    return `an IPv4-mapped address cannot be listened on (IPv6 listeners are IPv6-only): listen on ${mapped.map((address) => `${canonicalIp(address.host)}:${address.port}`).join(', ')} instead`;
  }
  if (code === 'EADDRINUSE') return 'address already in use (another server is listening there)';
  return code === undefined ? String(error) : socketErrorText(code);
}

/** `--egress ADDR`, at most one per family. */
export function parseEgress(texts: readonly string[]): Egress | undefined {
  if (texts.length === 0) return undefined;
  let ipv4: string | undefined;
  let ipv6: string | undefined;
  for (const text of texts) {
    const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
    const family = isIP(bare);
    if (family === 0) throw usageError(`--egress must be an IP address of this machine, not "${text}"`);
    if ((family === 4 ? ipv4 : ipv6) !== undefined) throw usageError(`--egress: one address per family (two IPv${family} addresses given)`);
    if (family === 4) ipv4 = bare;
    else ipv6 = bare;
  }
  return { ipv4, ipv6 };
}
