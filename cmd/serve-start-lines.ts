import { formatAddress } from '../lib/codec/address.ts';
import { isExposed } from '../lib/server/listen-address.ts';
import type { ListenAddress } from '../lib/server/server.ts';
import type { ServerConfig } from '../lib/server/types.ts';
import { describeUpstream } from '../lib/server/upstreams.ts';
import type { ServeOptions } from './serve.ts';

/** The lines after the ready lines (unless -q): what is enforced, then how to use each listener. */
export function startLines(options: ServeOptions, config: ServerConfig, bound: readonly ListenAddress[]): string[] {
  return [...enforcedLines(options, bound), ...proxyProtocolLines(bound), ...limitLines(config, options.workers), ...upstreamLines(config), ...policyLines(config, bound), ...usageLines(options, bound)];
}

function proxyProtocolLines(bound: readonly ListenAddress[]): string[] {
  const proxied = bound.filter((address) => address.proxyProtocol).map(formatAddress);
  return proxied.length > 0 ? [`PROXY protocol (v1/v2) required on ${proxied.join(', ')}, only from --proxy-protocol-from; the client address is the header's`] : [];
}

/** Where requests go on to, without the upstreams' credentials. */
function upstreamLines(config: ServerConfig): string[] {
  const upstreams = config.upstreams;
  if (upstreams === undefined) return [];
  return [
    `upstream: ${upstreams.default ? describeUpstream(upstreams.default) : 'none (direct unless a rule says via=NAME)'}`,
    ...[...upstreams.named.values()].map((upstream) => `upstream ${upstream.name}: ${describeUpstream(upstream)} (rules with via=${upstream.name})`),
  ];
}

/** The caps in force (defaults from the fd limit included); with workers, each one's. */
function limitLines(config: ServerConfig, workers: number): string[] {
  const limit = (n: number): string => (n > 0 ? String(n) : 'no limit');
  return [`limits${workers > 1 ? ' per worker' : ''}: ${limit(config.maxConnections)} connections, ${config.maxPendingHandshakes} in handshake (oldest dropped first), per IP ${limit(config.maxConnectionsPerIp)}, ${limit(config.maxBindsPerIp)} BINDs per IP`];
}

/** The policy as it applies to these listeners: loopback-only ones and the others have different defaults. */
function policyLines(config: ServerConfig, bound: readonly ListenAddress[]): string[] {
  const kinds = new Set(bound.map(isExposed));
  const lines: string[] = [];
  for (const exposed of [false, true]) {
    if (!kinds.has(exposed)) continue;
    const where = kinds.size > 1 ? (exposed ? ' (non-loopback and PROXY protocol listeners)' : ' (loopback listeners)') : '';
    for (const line of config.policy.summary(exposed)) lines.push(`policy${where}: ${line}`);
  }
  return lines;
}

/** What a client will meet: authentication, commands and deadlines. */
export function enforcedLines(options: ServeOptions, bound: readonly ListenAddress[]): string[] {
  const users = options.users.size;
  const config = options.config;
  // The bound addresses: two listeners on port 0 differ only once they listen.
  const open = bound.filter((address) => address.noAuth).map(formatAddress);
  const auth = users > 0
    ? `auth: username/password, ${users} user(s); SOCKS4 is refused${open.length > 0 ? `; no login, and SOCKS4 allowed, on ${open.join(', ')} (auth: false)` : ''}`
    : `auth: none${options.openProxy ? ' (open proxy)' : ''}; SOCKS4${config.socks4 === false ? ' disabled' : ' allowed'}`;
  const http = config.http === false ? 'HTTP proxy off (--no-http)' : 'HTTP proxy on the same port (CONNECT and http:// requests)';
  const commands = ['connect', ...(['bind', 'udp'] as const).filter((name) => config.commands?.[name] !== undefined)];
  const ms = (value: number | undefined): string => (value === undefined ? '?' : value === 0 ? 'off' : value % 1000 === 0 ? `${value / 1000}s` : `${value}ms`);
  return [
    auth,
    `commands: ${commands.join(', ').toUpperCase()}; handshake deadline ${ms(config.handshakeTimeoutMs)}, lookup ${ms(config.lookupTimeoutMs)}, connect ${ms(config.connectTimeoutMs)}, idle ${ms(config.idleTimeoutMs)}; ${config.maxUdpAssociationsPerClient || 'unlimited'} UDP association(s) per client IP${options.workers > 1 ? ' per worker' : ''}; ${http}`,
  ];
}

/** Copy-paste lines for the first listener; the host a client should use (a wildcard listener is reached
 * through a real address of the machine, shown as a placeholder). */
function usageLines(options: ServeOptions, bound: readonly ListenAddress[]): string[] {
  const first = bound[0];
  if (!first) return [];
  const wildcard = first.host === '0.0.0.0' || first.host === '::';
  const host = wildcard ? (first.host === '::' ? '[THIS-HOST]' : 'THIS-HOST') : first.host;
  const authority = wildcard ? `${host}:${first.port}` : formatAddress(first);
  const credentials = options.users.size > 0 ? 'USER:PASS@' : '';
  const url = `socks5h://${credentials}${authority}`;
  const bare = first.host.includes(':') && !wildcard ? first.host : host.replace(/^\[|\]$/g, '');
  const lines = [
    `try: curl -x ${url} https://example.com/`,
    `     ALL_PROXY=${url} git clone https://example.com/repo.git   # git, curl and others read ALL_PROXY`,
    `     ssh -o ProxyCommand='socx connect -x ${url} %h %p' user@host`,
    ...(options.config.http === false ? [] : [`     curl -x http://${credentials}${authority} http://example.com/   # the HTTP proxy on the same port`]),
    `     proxychains4: "socks5 ${bare} ${first.port}${options.users.size > 0 ? ' USER PASS' : ''}" under [ProxyList]`,
  ];
  if (wildcard) lines.push('     (THIS-HOST: an address of this machine that the clients can reach)');
  return lines;
}
