import type { Socket } from 'node:net';
import type { Address } from '../codec/address.ts';
import type { CommandName } from '../codec/constants.ts';
import type { Egress, UpstreamDial } from '../dial.ts';
import type { AddressSet } from '../policy/address-set.ts';
import type { Policy, Verdict } from '../policy/policy.ts';
import type { LookupObserver } from '../resolver/resolver.ts';
import type { Resolver } from '../resolver/types.ts';
import type { Authenticate } from './auth.ts';
import type { UdpCounters } from './udp-association.ts';
import type { Upstreams } from './upstreams.ts';

/** A client's request once the handshake is through, whichever version it spoke. */
export interface SessionRequest {
  readonly version: 4 | 5 | 'http';
  readonly command: number;
  readonly address: Address;
  readonly user: string | undefined;
}

/** A request in one of the SOCKS versions: what BIND and UDP ASSOCIATE handle. */
export type SocksRequest = SessionRequest & { readonly version: 4 | 5 };

export interface ClientInfo { readonly host: string; readonly port: number }

/** Where a connection arrived: the defaults of the policy differ for a listener others can reach. */
export interface ListenerInfo {
  /** Its address as the record shows it. */
  readonly address: string;
  readonly exposed: boolean;
  /** No login on this listener, whatever `authenticate` says. */
  readonly noAuth: boolean;
  /** Connections start with a PROXY protocol header (from a load balancer) naming the real client. */
  readonly proxyProtocol: boolean;
}

/** How a connection ended, from a closed set (the log's and the metrics' vocabulary). */
export const OUTCOMES = ['ok', 'not-socks', 'bad-request', 'no-method', 'refused-auth', 'refused-rule', 'refused-command', 'upstream-refused', 'upstream-unreachable', 'timeout', 'limit', 'reset', 'aborted', 'error'] as const;
export type Outcome = typeof OUTCOMES[number];

/** The limit that ended a connection (or refused it before it became one): the name of its option, or of a
 * fixed one ('lookups' in flight per client, 'login-rate': failed logins per source, login-limit.ts). */
export const LIMIT_NAMES = ['max-connections', 'max-connections-per-ip', 'max-handshakes', 'max-binds-per-ip', 'max-udp-associations', 'lookups', 'login-rate'] as const;
export type LimitName = typeof LIMIT_NAMES[number];

/** The SOCKS5 method the server chose ('no-acceptable': none of the client's); SOCKS4 has none. */
export type MethodName = 'none' | 'userpass' | 'no-acceptable';

/** What one connection did (one request, on an HTTP keep-alive connection): the text log, the JSON log and
 * the metrics are views of it. Fields a client controls (target, user) are kept as sent; every view escapes
 * them. */
export interface ConnectionRecord {
  /** When it was accepted, ms since the epoch (the views print ISO 8601). */
  readonly time: number;
  /** The client, as its PROXY protocol header names it on a --proxy-protocol listener. */
  client: string;
  /** The load balancer the connection came through (the TCP peer), when a PROXY header named the client. */
  balancer: string | undefined;
  /** The listen address it arrived on. */
  readonly listener: string;
  /** SOCKS4/4a, SOCKS5, or the HTTP proxy (CONNECT and forwarded requests). */
  version: 4 | 5 | 'http' | undefined;
  /** The login method: SOCKS5's choice; for HTTP 'userpass' with Proxy-Authorization: Basic checked. */
  method: MethodName | undefined;
  command: CommandName | undefined;
  target: string | undefined;
  user: string | undefined;
  ok: boolean;
  outcome: Outcome;
  /** The reply code sent (SOCKS5 terms), when one was. */
  reply: number | undefined;
  /** The policy rule that decided, when one did. */
  rule: string | undefined;
  /** Set with outcome 'limit': which one. */
  limit: LimitName | undefined;
  /** The upstream the request went through (its name, or "default" for the unnamed chain), when one did. */
  upstream: string | undefined;
  /** The IP and port actually dialed; through an upstream, what the upstream was asked to reach, which may be
   * a name. */
  dialed: string | undefined;
  /** BND.ADDR:PORT of the (first) success reply. */
  bound: string | undefined;
  /** BIND: the peer that connected. */
  peer: string | undefined;
  result: string;
  /** Final at the end; while a TCP relay runs the live counts are the session's (SocksServer.traffic()). */
  bytesUp: number;
  bytesDown: number;
  handshakeMs: number;
  /** From the dial to the upstream's connect, when one was made. */
  connectMs: number | undefined;
  durationMs: number;
  /** UDP ASSOCIATE: the association's counters, live while it runs. */
  udp: UdpCounters | undefined;
  /** A forwarded HTTP request's method (CONNECT is command 'connect'). */
  httpMethod: string | undefined;
  /** HTTP: the status the client got (ours, or the origin's for a forwarded request). */
  httpStatus: number | undefined;
}

/** What BIND and UDP ASSOCIATE get from the session once the request is read. */
export interface CommandContext {
  readonly socket: Socket;
  /** Bytes the client sent behind its request. */
  readonly head: Buffer;
  readonly request: SocksRequest;
  readonly client: ClientInfo;
  readonly config: ServerConfig;
  readonly record: ConnectionRecord;
  /** Aborted when the client's connection closes (a reset or a full close, not a half-close) or the server
   * shuts down for good. */
  readonly signal: AbortSignal;
  /** Sends a reply in SOCKS5 terms (REP code); SOCKS4 sessions translate it to 0x5A/0x5B. */
  reply(code: number, bound: Address): void;
  /** Sends a failure reply, records why, and closes the connection once the reply is delivered; `limit` when a
   * limit refused it. */
  refuse(code: number, why: string, limit?: LimitName): void;
  /** The policy's verdict on this client reaching `destIp` (the record keeps the rule). */
  checkPolicy(destIp: string, destName: string | undefined, port: number): Verdict;
  /** The verdict on a name an upstream will resolve, when the rules decide on the name alone
   * (Policy.checkName); undefined when they need the address. */
  checkName(destName: string, port: number): Verdict | undefined;
  /** Relays the client with `peer` (BIND's second leg) and resolves when both have closed; `head` goes to
   * the peer first, `fromPeer` to the client. */
  relay(peer: Socket, head: Buffer, fromPeer?: Buffer): Promise<void>;
  debug(message: string): void;
}

export type CommandHandler = (context: CommandContext) => Promise<void>;

export interface ServerConfig {
  /** RFC 1929 username/password check; undefined: no authentication (and SOCKS4 allowed). */
  readonly authenticate: Authenticate | undefined;
  /** An absolute deadline, from accept to the last byte of the request, whatever the client trickles. */
  readonly handshakeTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** How long a BIND waits for its peer to connect before the failure reply (and the port is freed). */
  readonly bindTimeoutMs: number;
  /** 0 disables. */
  readonly idleTimeoutMs: number;
  readonly maxHandshakeBytes: number;
  /** Connections open at once, all states; 0 no limit. */
  readonly maxConnections: number;
  /** Connections open at once from one client IP; 0 no limit. */
  readonly maxConnectionsPerIp: number;
  /** The only peers --proxy-protocol listeners take connections from (the load balancers); none when undefined. */
  readonly proxyProtocolFrom: AddressSet | undefined;
  /** Connections still in their handshake; when full, the oldest is dropped for the newcomer. */
  readonly maxPendingHandshakes: number;
  /** BIND requests waiting or relaying per client IP; 0 no limit. */
  readonly maxBindsPerIp: number;
  /** TCP keepalive on both legs of a relay (idle time before the first probe); 0 off. */
  readonly keepAliveMs: number;
  readonly socks4: boolean;
  /** Speak HTTP proxy (CONNECT and absolute-form requests) on the same listeners, told apart by the first
   * byte. */
  readonly http: boolean;
  /** HTTP keep-alive: how long a client connection may wait for its next request. */
  readonly httpIdleTimeoutMs: number;
  /** The address to announce in BIND and UDP ASSOCIATE replies instead of our local one (behind NAT). */
  readonly advertise: string | undefined;
  /** UDP ASSOCIATE: end an association after this long without a relayed datagram; 0 never. */
  readonly udpIdleTimeoutMs: number;
  /** UDP ASSOCIATE: bind relay sockets only on ports in this range (to map through a firewall); any port
   * when undefined. */
  readonly udpPortRange: { readonly low: number; readonly high: number } | undefined;
  /** UDP ASSOCIATE: open associations allowed per client IP; 0 no limit. */
  readonly maxUdpAssociationsPerClient: number;
  /** Resolves every name the server meets (CONNECT targets, BIND's expected peer, UDP datagrams); the
   * server makes a bounded one (lookupTimeoutMs, a cap per client) when none is given. */
  readonly resolver: Resolver | undefined;
  readonly lookupTimeoutMs: number;
  /** --allow / --deny, checked against every address dialed, peer accepted, datagram sent. */
  readonly policy: Policy;
  /** BIND and UDP ASSOCIATE handlers, when enabled; CONNECT is the session's own, always on. */
  readonly commands: Readonly<Partial<Record<Exclude<CommandName, 'connect'>, CommandHandler>>>;
  /** Opens every outgoing TCP connection: to a target, or to the first hop of an upstream. */
  readonly dial: UpstreamDial;
  /** serve --upstream: the proxies requests go through (rules pick one with `via=`); undefined: all direct. */
  readonly upstreams: Upstreams | undefined;
  /** serve --egress: the local address of upstream connections, UDP relay sockets towards targets and BIND
   * listeners. */
  readonly egress: Egress | undefined;
  /** Read relayed sockets into one shared buffer (false: 'data' events, a fresh Buffer per read). */
  readonly sharedReads: boolean;
  /** A connection was accepted: its record holds the time, client and listener so far. */
  readonly onConnectionStart: ((record: ConnectionRecord) => void) | undefined;
  /** A connection is over: its record is final. */
  readonly onConnection: (record: ConnectionRecord) => void;
  /** Each name lookup of the server's own resolver (not of one injected as `resolver`). */
  readonly onLookup: LookupObserver | undefined;
  readonly onDebug: ((message: string) => void) | undefined;
  /** Operational events (limits hit, accept errors), already rate-limited. */
  readonly onWarning: ((message: string) => void) | undefined;
}
