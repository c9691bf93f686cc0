import { createServer, type Server, type Socket } from 'node:net';
import { formatAddress } from '../codec/address.ts';
import { canonicalIp } from '../codec/ip.ts';
import { dialUpstream } from '../dial.ts';
import { errnoCode, socketErrorText } from '../errors.ts';
import { IpKey } from '../policy/ip-key.ts';
import { Policy } from '../policy/policy.ts';
import { createResolver } from '../resolver/resolver.ts';
import type { ClosableResolver } from '../resolver/types.ts';
import { bindCommand } from './bind-command.ts';
import { defaultLimits, openFileCount, openFileLimit } from './limits.ts';
import { isExposed } from './listen-address.ts';
import { LOGIN_REFILL_MS, LoginLimiter, type LoginCheck, type LoginVerdict } from './login-limit.ts';
import { onSharedRead, reset } from './pair-relay.ts';
import { RateLimitedLog } from './rate-limited-log.ts';
import { Session, type SessionHost } from './session.ts';
import { readIntoShared, sharedReadSupported, startReads } from './shared-read.ts';
import { Sweeper } from './sweep.ts';
import { udpCommand } from './udp-command.ts';
import { LIMIT_NAMES, type LimitName, type ListenerInfo, type ServerConfig } from './types.ts';
import { addUdpCounters, newUdpCounters, type UdpCounters } from './udp-association.ts';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  /** Clients of this listener need no login even when users are configured (the config's `auth: false`). */
  readonly noAuth?: boolean;
  /** Connections begin with a PROXY protocol header (--proxy-protocol), and only from proxyProtocolFrom. */
  readonly proxyProtocol?: boolean;
}

const limits = defaultLimits();
const FD_LIMIT = openFileLimit();
/** How often the descriptor count is read while the server holds many connections. */
const FD_CHECK_MS = 1000;

export const defaultServerConfig: ServerConfig = {
  authenticate: undefined,
  handshakeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  bindTimeoutMs: 60_000,
  idleTimeoutMs: 0,
  // The longest legal handshake (SOCKS5 greeting + RFC 1929 request + request with a 255-byte name) is about
  // 1 kB; SOCKS4a's two NUL-terminated fields are bounded at 255 bytes each by the codec.
  maxHandshakeBytes: 2048,
  maxConnections: limits.maxConnections,
  maxConnectionsPerIp: 0,
  proxyProtocolFrom: undefined,
  maxPendingHandshakes: limits.maxPendingHandshakes,
  maxBindsPerIp: 16,
  keepAliveMs: 60_000,
  socks4: true,
  http: true,
  httpIdleTimeoutMs: 60_000,
  advertise: undefined,
  udpIdleTimeoutMs: 120_000,
  udpPortRange: undefined,
  maxUdpAssociationsPerClient: 32,
  resolver: undefined,
  lookupTimeoutMs: 5_000,
  policy: Policy.parse([]),
  commands: { bind: bindCommand, udp: udpCommand },
  dial: dialUpstream,
  upstreams: undefined,
  egress: undefined,
  sharedReads: true,
  onConnectionStart: undefined,
  onConnection: () => {},
  onLookup: undefined,
  onDebug: undefined,
  onWarning: undefined,
};

/** TCP_NODELAY and keepalive set once on the listening socket: Linux copies them to every accepted socket,
 * which saves several setsockopt calls per connection over setting them on each. */
function inheritSocketOptions(server: Server, keepAliveMs: number): void {
  const handle = (server as unknown as { _handle?: { setNoDelay?(on: boolean): number; setKeepAlive?(on: boolean, seconds: number): number } })._handle;
  handle?.setNoDelay?.(true);
  if (keepAliveMs > 0) handle?.setKeepAlive?.(true, Math.max(1, Math.round(keepAliveMs / 1000)));
}

/** Fills in what a partial config leaves out: the resolver is the server's own bounded one unless one is
 * injected. */
function completeConfig(config: Partial<ServerConfig>, resolver: () => ClosableResolver): ServerConfig {
  const full = { ...defaultServerConfig, ...config };
  return { ...full, resolver: full.resolver ?? resolver() };
}

/** What the server has carried so far, finished connections and open ones together: pulled (on a scrape, a
 * status) rather than pushed per read, so that a relay pays nothing for it. */
export interface ServerTraffic {
  /** TCP payload: relays (CONNECT, BIND), counted while they run. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** UDP ASSOCIATE, payload bytes and datagrams, drops by reason. */
  readonly udp: UdpCounters;
  readonly open: { readonly connections: number; readonly handshakes: number; readonly binds: number; readonly udpAssociations: number };
  /** Connections refused or dropped by a limit, by which. */
  readonly limitHits: Readonly<Record<LimitName, number>>;
}

export interface ServerStatus {
  readonly startedAt: number;
  readonly connections: { readonly handshake: number; readonly relaying: number; readonly total: number };
  readonly topClients: ReadonlyArray<readonly [ip: string, count: number]>;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

/** A SOCKS4/4a/5 server on any number of listeners. Prints nothing: what happens goes to the config's
 * callbacks. */
export class SocksServer implements SessionHost {
  #config: ServerConfig;
  readonly #servers: Server[] = [];
  readonly #sessions = new Set<Session>();
  /** Sessions still in their handshake, oldest first. */
  readonly #pending = new Set<Session>();
  readonly #perIp = new Map<string, number>();
  readonly #ipKey = new IpKey();
  readonly #bindsPerIp = new Map<string, number>();
  readonly sweeper = new Sweeper();
  readonly #warnings = new RateLimitedLog(10_000);
  readonly #logins = new LoginLimiter({
    onOverBudget: (source, failures) => this.#warnings.log(`login-${source}`, `${source}: ${failures} failed logins; its logins are refused unchecked, one let through every ${LOGIN_REFILL_MS / 1000} s (login-rate)`, this.#config.onWarning),
  });
  readonly #startedAt = Date.now();
  #bytesUp = 0;
  #bytesDown = 0;
  /** Finished UDP associations' counters. */
  readonly #udp = newUdpCounters();
  readonly #limitHits = Object.fromEntries(LIMIT_NAMES.map((name) => [name, 0])) as Record<LimitName, number>;
  #closing = false;
  /** While close() waits out the grace: ends it now. */
  #endGrace: (() => void) | undefined;
  #closed: Promise<void> | undefined;
  #fdTimer: NodeJS.Timeout | undefined;
  #allDone: (() => void) | undefined;

  #ownResolver: ClosableResolver | undefined;

  constructor(config: Partial<ServerConfig> = {}) {
    this.#config = completeConfig(config, () => this.#resolver(config.lookupTimeoutMs ?? defaultServerConfig.lookupTimeoutMs));
  }

  #resolver(timeoutMs: number): ClosableResolver {
    // Through this.#config, so that a reconfigure() reaches the resolver's observer too.
    this.#ownResolver = createResolver({ timeoutMs, onLookup: (source, error, ms) => this.#config.onLookup?.(source, error, ms) });
    return this.#ownResolver;
  }

  get connections(): number {
    return this.#sessions.size;
  }

  get config(): ServerConfig {
    return this.#config;
  }

  /** close() was called: no longer accepting (a readiness probe says not ready). */
  get closing(): boolean {
    return this.#closing;
  }

  /** New settings for connections accepted from now on; open ones keep the settings they started with. */
  reconfigure(config: Partial<ServerConfig>): void {
    // The resolver (and with it --lookup-timeout) stays: lookups in flight belong to it.
    this.#config = completeConfig({ ...this.#config, ...config }, () => this.#ownResolver ?? this.#resolver(this.#config.lookupTimeoutMs));
  }

  status(): ServerStatus {
    let handshake = 0;
    let relaying = 0;
    let bytesUp = this.#bytesUp;
    let bytesDown = this.#bytesDown;
    for (const session of this.#sessions) {
      if (session.inHandshake) handshake++;
      if (session.relaying) relaying++;
      bytesUp += session.bytesUp;
      bytesDown += session.bytesDown;
    }
    const topClients = [...this.#perIp].sort((a, b) => b[1] - a[1]).slice(0, 5);
    return { startedAt: this.#startedAt, connections: { handshake, relaying, total: this.#sessions.size }, topClients, bytesUp, bytesDown };
  }

  traffic(): ServerTraffic {
    let bytesUp = this.#bytesUp;
    let bytesDown = this.#bytesDown;
    let handshakes = 0;
    let binds = 0;
    let udpAssociations = 0;
    const udp = newUdpCounters();
    addUdpCounters(udp, this.#udp);
    for (const session of this.#sessions) {
      bytesUp += session.bytesUp;
      bytesDown += session.bytesDown;
      if (session.inHandshake) handshakes++;
      const { record } = session;
      if (record.command === 'bind' && record.bound !== undefined) binds++;
      if (record.udp) {
        udpAssociations++;
        addUdpCounters(udp, record.udp);
      }
    }
    return { bytesUp, bytesDown, udp, open: { connections: this.#sessions.size, handshakes, binds, udpAssociations }, limitHits: { ...this.#limitHits } };
  }

  /** Resolves with the real address of each listener (port 0 becomes the port chosen). `reusePort`
   * (SO_REUSEPORT, Linux) lets the processes of `serve --workers` each bind the same address. */
  async listen(addresses: readonly ListenAddress[], options: { reusePort?: boolean } = {}): Promise<ListenAddress[]> {
    const bound: ListenAddress[] = [];
    for (const { host, port, noAuth, proxyProtocol } of addresses) {
      // The address is known once listening (port 0 becomes a port); no connection arrives before that.
      const listener: { -readonly [K in keyof ListenerInfo]: ListenerInfo[K] } = { address: '', exposed: isExposed({ host, port, proxyProtocol }), noAuth: noAuth === true, proxyProtocol: proxyProtocol === true };
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.#accept(socket, listener));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port, ipv6Only: host.includes(':'), reusePort: options.reusePort === true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      inheritSocketOptions(server, this.#config.keepAliveMs);
      // Accept errors (EMFILE, ENFILE) do not stop the listener: libuv keeps accepting as fds come back.
      server.on('error', (error) => this.#acceptFailed(error));
      this.#servers.push(server);
      const address = server.address();
      if (address && typeof address === 'object') {
        bound.push({ host: address.address, port: address.port, noAuth: listener.noAuth, proxyProtocol: listener.proxyProtocol });
        listener.address = formatAddress({ host: address.address, port: address.port });
      }
    }
    return bound;
  }

  /** Stops accepting, lets open connections finish for up to `graceMs`, then resets the rest. A call while
   * closing ends the grace now (a second SIGINT/SIGTERM), and both resolve when all is closed. */
  close(graceMs: number): Promise<void> {
    if (this.#closed) {
      this.#endGrace?.();
      return this.#closed;
    }
    this.#closed = this.#close(graceMs);
    return this.#closed;
  }

  async #close(graceMs: number): Promise<void> {
    this.#closing = true;
    for (const session of this.#sessions) session.closeIdle();
    // net.Server's close callback runs once every connection it accepted has closed.
    const drained = Promise.all(this.#servers.map((server) => new Promise((resolve) => server.close(resolve))));
    // A relay is over when both of its sockets are, and the listener only counts the client's.
    const finished = new Promise<void>((resolve) => {
      this.#allDone = resolve;
      if (this.#sessions.size === 0) resolve();
    });
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      this.#endGrace = resolve;
    });
    await Promise.race([Promise.all([drained, finished]), graceOver]);
    clearTimeout(timer);
    this.#endGrace = undefined;
    for (const session of [...this.#sessions]) session.abort();
    await Promise.all([drained, finished]);
    this.sweeper.stop();
    clearInterval(this.#fdTimer);
    this.#ownResolver?.close();
  }

  #accept(socket: Socket, listener: ListenerInfo): void {
    const config = this.#config;
    // Reset before Node got to it (a balancer's connect-and-close health check): no peer to serve, refuse or
    // log, and no address to check against --proxy-protocol-from.
    if (socket.remoteAddress === undefined) return void socket.destroy();
    const ip = canonicalIp(socket.remoteAddress);
    if (this.#closing) return reset(socket);
    if (listener.proxyProtocol && !this.#fromBalancer(ip)) return this.#refuseUntrusted(socket, ip);
    if (config.maxConnections > 0 && this.#sessions.size >= config.maxConnections) {
      const oldest = this.#pending.values().next().value;
      if (!oldest) return this.#refuseAtLimit(socket, 'max-connections', `the server has ${config.maxConnections} connections open (--max-connections)`);
      oldest.evict('max-connections');
    }
    const fromIp = this.#perIp.get(ip) ?? 0;
    // Through a balancer the per-IP count is the client's, once its PROXY header names it (proxied()).
    if (config.maxConnectionsPerIp > 0 && fromIp >= config.maxConnectionsPerIp && !listener.proxyProtocol) {
      return this.#refuseAtLimit(socket, 'max-connections-per-ip', `${ip} has ${config.maxConnectionsPerIp} connections open (--max-connections-per-ip)`);
    }
    if (this.#pending.size >= config.maxPendingHandshakes) {
      const oldest = this.#pending.values().next().value;
      oldest?.evict('max-handshakes');
      this.#warnings.log('pending', `${config.maxPendingHandshakes} handshakes pending: dropping the oldest for each newcomer`, config.onWarning);
    }
    this.#perIp.set(ip, fromIp + 1);
    const shared = config.sharedReads && sharedReadSupported && readIntoShared(socket, onSharedRead);
    const session = new Session(this, config, socket, { host: ip, port: socket.remotePort ?? 0 }, listener, shared);
    this.#sessions.add(session);
    this.#pending.add(session);
    this.#watchDescriptors();
    if (shared) startReads(socket);
    else socket.resume();
  }

  /**
   * When accept runs out of descriptors, libuv closes the newcomers itself (so the loop does not spin) and
   * Node hears nothing: the count is read once a second while connections hold at least a quarter of the
   * limit, and running out is logged.
   */
  #watchDescriptors(): void {
    if (this.#fdTimer || FD_LIMIT === undefined || this.#sessions.size < FD_LIMIT / 4) return;
    this.#fdTimer = setInterval(() => {
      if (this.#sessions.size < FD_LIMIT / 4) {
        clearInterval(this.#fdTimer);
        this.#fdTimer = undefined;
        return;
      }
      const open = openFileCount();
      if (open === 'all' || (open !== undefined && open >= FD_LIMIT - 2)) this.outOfDescriptors(`${open} of ${FD_LIMIT} open`);
    }, FD_CHECK_MS).unref();
  }

  outOfDescriptors(detail: string): void {
    this.#warnings.log('emfile', `cannot accept connections: too many open files (EMFILE, ${detail}); new connections are closed until descriptors free up (raise ulimit -n, or lower --max-connections)`, this.#config.onWarning);
  }

  #fromBalancer(ip: string): boolean {
    const from = this.#config.proxyProtocolFrom;
    if (!from) return false;
    this.#ipKey.read(ip);
    return from.has(this.#ipKey);
  }

  /** A peer that may not send a PROXY header could claim any address with one: it is not heard at all. */
  #refuseUntrusted(socket: Socket, ip: string): void {
    this.#warnings.log('proxy-from', `refused a connection from ${ip}: a PROXY protocol listener takes connections only from --proxy-protocol-from`, this.#config.onWarning);
    reset(socket);
  }

  /** Over a connection limit: closed at once (a SOCKS reply needs the version, which is not read yet). */
  #refuseAtLimit(socket: Socket, limit: LimitName, why: string): void {
    this.#limitHits[limit]++;
    this.#warnings.log('limit', `refused a connection: ${why}`, this.#config.onWarning);
    reset(socket);
  }

  #acceptFailed(error: Error): void {
    const code = errnoCode(error);
    if (code === 'EMFILE' || code === 'ENFILE') return this.outOfDescriptors(code);
    this.#warnings.log(`accept-${code ?? 'error'}`, `cannot accept a connection: ${socketErrorText(code)}${code ? ` (${code})` : ''}`, this.#config.onWarning);
  }

  proxied(session: Session, balancerIp: string): boolean {
    this.#uncount(balancerIp);
    const ip = session.info.host;
    const open = this.#perIp.get(ip) ?? 0;
    this.#perIp.set(ip, open + 1);
    const max = this.#config.maxConnectionsPerIp;
    if (max > 0 && open >= max) {
      this.#warnings.log('limit', `refused a connection: ${ip} has ${max} connections open (--max-connections-per-ip)`, this.#config.onWarning);
      return false;
    }
    return true;
  }

  #uncount(ip: string): void {
    const left = (this.#perIp.get(ip) ?? 1) - 1;
    if (left > 0) this.#perIp.set(ip, left);
    else this.#perIp.delete(ip);
  }

  handshakeDone(session: Session): void {
    this.#pending.delete(session);
  }

  sessionDone(session: Session): void {
    if (!this.#sessions.delete(session)) return;
    this.#pending.delete(session);
    this.#bytesUp += session.bytesUp;
    this.#bytesDown += session.bytesDown;
    const { record } = session;
    if (record.udp) addUdpCounters(this.#udp, record.udp);
    if (record.limit) this.#limitHits[record.limit]++;
    this.#uncount(session.info.host);
    if (this.#sessions.size === 0) this.#allDone?.();
  }

  login(ip: string, check: LoginCheck, done: (verdict: LoginVerdict) => void): void {
    this.#logins.attempt(ip, check, done);
  }

  /** `--workers`: tells `publish` the source of each failed login, and takes the other workers' through
   * `loginFailedElsewhere`, so that the failed-login budget is shared. */
  shareLoginFailures(publish: (source: string) => void): void {
    this.#logins.onFailure = publish;
  }

  loginFailedElsewhere(source: string): void {
    this.#logins.chargeFailure(source);
  }

  acquireBind(ip: string): boolean {
    const open = this.#bindsPerIp.get(ip) ?? 0;
    const max = this.#config.maxBindsPerIp;
    if (max > 0 && open >= max) return false;
    this.#bindsPerIp.set(ip, open + 1);
    return true;
  }

  releaseBind(ip: string): void {
    const left = (this.#bindsPerIp.get(ip) ?? 1) - 1;
    if (left > 0) this.#bindsPerIp.set(ip, left);
    else this.#bindsPerIp.delete(ip);
  }
}
