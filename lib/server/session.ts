import { connect, isIPv6, type Socket } from 'node:net';
import { formatAddress, toAddress, type Address } from '../codec/address.ts';
import { AuthStatus, Command, commandName, Method, Reply, replyName, Version } from '../codec/constants.ts';
import { CodecError } from '../codec/decoded.ts';
import { MAX_HTTP_HEAD } from '../codec/http-head.ts';
import { decodeProxyHeader } from '../codec/proxy-protocol.ts';
import { decodeSocks4Request } from '../codec/socks4.ts';
import { decodeGreeting, decodeRequest, encodeMethodSelection, encodeUserPassReply } from '../codec/socks5.ts';
import { dialErrorText, dialUpstream, egressFor, type Dialed } from '../dial.ts';
import { describeError, errnoCode, SocxError } from '../errors.ts';
import { safeText, safeWord } from '../safe-text.ts';
import { closeAfterReply } from './close-after-reply.ts';
import { HttpForward, type ForwardEnd, type ForwardHost } from './http-forward.ts';
import { isHttpStart, readHttpRequest, type ForwardPlan } from './http-request.ts';
import { encodeHttpConnected, encodeHttpError, encodeHttpFailure, httpStatusFor, PROXY_AUTHENTICATE } from './http-status.ts';
import { encodeFailure, encodeServerReply } from './outcome.ts';
import { adopt, onSharedRead, ownerOf, PairRelay, reset, resumeReads, type RelayEnd } from './pair-relay.ts';
import { replyFor } from './reply-for.ts';
import { sharedOnread } from './shared-read.ts';
import { refreshClock, type Sweepable, type Sweeper } from './sweep.ts';
import { normaliseNumericHost } from '../policy/host-name.ts';
import { clientSource } from '../policy/ip-key.ts';
import type { Verdict } from '../policy/policy.ts';
import type { ResolvedAddress } from '../resolver/types.ts';
import type { Authenticate } from './auth.ts';
import { LOGIN_BURST, LOGIN_REFILL_MS, MAX_PENDING_LOGINS, type LoginCheck, type LoginVerdict } from './login-limit.ts';
import { openThrough } from './upstream-dial.ts';
import { carriesIpv6, describeUpstream, resolvesNames, routeOf, type Upstream } from './upstreams.ts';
import type { ClientInfo, CommandContext, CommandHandler, ConnectionRecord, LimitName, ListenerInfo, Outcome, ServerConfig, SessionRequest, SocksRequest } from './types.ts';

/** What a session needs from the server that accepted it. */
export interface SessionHost {
  readonly sweeper: Sweeper;
  /** The server has stopped accepting (shutting down). */
  readonly closing: boolean;
  /** The session left the handshake (its request is read, or it ended). */
  handshakeDone(session: Session): void;
  /** The session is over: its record is final. */
  sessionDone(session: Session): void;
  /** Runs a login's password check under the per-source limit on failed logins (login-limit.ts). */
  login(ip: string, check: LoginCheck, done: (verdict: LoginVerdict) => void): void;
  /** A socket could not be opened for want of descriptors. */
  outOfDescriptors(detail: string): void;
  /** Takes one of `ip`'s BIND slots; false when it has none left. */
  acquireBind(ip: string): boolean;
  releaseBind(ip: string): void;
  /** The session's PROXY header named its client: the per-IP count moves there from the balancer's IP;
   * false when that client is over its limit. */
  proxied(session: Session, balancerIp: string): boolean;
}

// The session's states, as numbers (Node's type stripping has no enums).
/** Before the greeting, so that inHandshake's `<=` covers it. */
const PROXY_HEADER = -1;
const GREETING = 0;
const AUTH = 1;
const AUTHENTICATING = 2;
const REQUEST = 3;
const SOCKS4_REQUEST = 4;
/** An HTTP proxy request head (the first one, or the next on a kept-alive connection). */
const HTTP_REQUEST = 5;
const CONNECTING = 6;
const RELAY = 7;
const COMMAND = 8;
/** A plain HTTP request sent on to its origin, its response coming back (http-forward.ts). */
const FORWARD = 9;
const DONE = 10;
type State = typeof PROXY_HEADER | typeof GREETING | typeof AUTH | typeof AUTHENTICATING | typeof REQUEST | typeof SOCKS4_REQUEST
  | typeof HTTP_REQUEST | typeof CONNECTING | typeof RELAY | typeof COMMAND | typeof FORWARD | typeof DONE;

const NEED_MORE = -1;
/** Bytes a client may send behind its request before the upstream is connected. */
const EARLY_DATA_LIMIT = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/** The log's words for a login refused without a check. */
const LOGIN_REFUSALS = {
  'over-budget': `more than ${LOGIN_BURST} failed logins, one more allowed every ${LOGIN_REFILL_MS / 1000} s,`,
  'too-many-pending': `${MAX_PENDING_LOGINS} logins under way`,
} as const;
const phaseOf = (state: State): string => (state === AUTH || state === AUTHENTICATING ? 'auth' : state === REQUEST || state === SOCKS4_REQUEST || state === HTTP_REQUEST ? 'request' : state === PROXY_HEADER ? 'PROXY header' : 'greeting');

/** RFC 1928 §3: with authentication required only username/password will do; without, only "no
 * authentication". Never a method the client did not offer. */
export function chooseMethod(offered: readonly number[], requireAuth: boolean): number {
  const wanted = requireAuth ? Method.USERPASS : Method.NONE;
  return offered.includes(wanted) ? wanted : Method.NO_ACCEPTABLE;
}

/** The length of a SOCKS5 request whose bytes are wrong but whose address can be measured, so that the
 * refusal comes only once all of it is read; NEED_MORE when it is not complete yet, 0 when it cannot be. */
function requestLength(data: Buffer, offset: number): number {
  if (data.length < offset + 5) return NEED_MORE;
  const atyp = data[offset + 3];
  const addressLength = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + (data[offset + 4] ?? 0) : -1;
  if (addressLength < 0) return 0;
  const length = 4 + addressLength + 2;
  return data.length - offset >= length ? length : NEED_MORE;
}

/** 'connect' of an upstream socket the session dialed itself; `this` is the socket. */
function onUpstreamConnect(this: Socket): void {
  const owner = ownerOf(this);
  if (owner instanceof Session) owner.upstreamConnected(this);
}

/**
 * One client connection, from accept to close, as one object: a synchronous handshake parsed straight from
 * the read buffer (bytes are copied only when a message is split across reads or arrives early), then the
 * relay it extends. Deadlines are checked by the server's one sweep timer, not a timer per socket.
 */
export class Session extends PairRelay implements Sweepable, ForwardHost {
  readonly #host: SessionHost;
  readonly config: ServerConfig;
  /** The TCP peer, or the client its PROXY header names. */
  info: ClientInfo;
  readonly #listener: ListenerInfo;
  /** The record of this connection; on an HTTP keep-alive connection, of the current request. */
  record: ConnectionRecord;
  #started: number;
  #state: State;
  #deadline: number;
  #version: 4 | 5 | 'http' = 5;
  #partial: Buffer | undefined;
  #head: Buffer | undefined;
  #user: string | undefined;
  #authSync = false;
  #abort: AbortController | undefined;
  #relayDone: (() => void) | undefined;
  /** The upstream socket while it connects (the default dial), and what it sent before the relay began. */
  #dialing: Socket | undefined;
  #upstreamEarly: Buffer | undefined;
  #dialStarted = 0;
  /** HTTP: the request being authenticated, the plain request to forward, and the exchange under way. */
  #httpPending: SessionRequest | undefined;
  #forwardPlan: ForwardPlan | undefined;
  #forward: HttpForward | undefined;
  /** HTTP keep-alive: between requests, nothing to record yet. */
  #httpIdle = false;
  /** Bytes of the requests forwarded before a CONNECT on the same connection (not the tunnel's). */
  #forwardedUp = 0;
  #forwardedDown = 0;

  constructor(host: SessionHost, config: ServerConfig, socket: Socket, info: ClientInfo, listener: ListenerInfo, shared: boolean) {
    super(socket, shared);
    this.#host = host;
    this.config = config;
    this.info = info;
    this.#listener = listener;
    this.#state = listener.proxyProtocol ? PROXY_HEADER : GREETING;
    this.#started = performance.now();
    this.#deadline = refreshClock() + config.handshakeTimeoutMs;
    this.record = newRecord(formatAddress(info), listener.address, undefined);
    adopt(socket, this, shared);
    host.sweeper.add(this);
    config.onConnectionStart?.(this.record);
  }

  /** The login this listener asks for: the server's, unless the listener has none. */
  get #authenticate(): ServerConfig['authenticate'] {
    return this.#listener.noAuth ? undefined : this.config.authenticate;
  }

  get inHandshake(): boolean {
    return this.#state <= HTTP_REQUEST;
  }

  #debug(message: string): void {
    this.config.onDebug?.(`${this.record.client} ${message}`);
  }

  // ---- events ------------------------------------------------------------------------------------------

  override onRead(socket: Socket, chunk: Buffer, fromShared: boolean): boolean {
    if (socket !== this.client && this.#state !== RELAY && this.#state !== FORWARD) {
      this.#upstreamEarly = this.#upstreamEarly ? Buffer.concat([this.#upstreamEarly, chunk]) : Buffer.from(chunk);
      return false;
    }
    switch (this.#state) {
      case RELAY: return super.onRead(socket, chunk, fromShared);
      case FORWARD: return this.#forward?.onRead(socket, chunk, fromShared) ?? false;
      // BIND and UDP read the control connection with 'data' listeners of their own.
      case COMMAND:
        if (this.clientShared) socket.emit('data', Buffer.from(chunk));
        return true;
      // Input after a refusal is read and dropped, so that unread bytes do not turn our close into a reset.
      case DONE: return true;
      // Reads go on while the upstream is dialed, so that a client that leaves is seen at once; what it sends
      // meanwhile is kept for the upstream, up to a bound.
      case CONNECTING:
        this.#head = this.#head ? Buffer.concat([this.#head, chunk]) : Buffer.from(chunk);
        return this.#head.length < EARLY_DATA_LIMIT;
      case AUTHENTICATING:
        this.#partial = this.#partial ? Buffer.concat([this.#partial, chunk]) : Buffer.from(chunk);
        return false;
      default: return this.#handshake(chunk);
    }
  }

  override onEnd(socket: Socket): void {
    if (this.#state === RELAY) return super.onEnd(socket);
    if (this.#state === FORWARD) return this.#forward?.onEnd(socket);
    if (socket !== this.client) return;
    // Between HTTP requests, a client's end is the usual close: what it was sent still gets delivered.
    if (this.#httpIdle) this.#finish(undefined, 'ok', 'closed between requests');
    else if (this.inHandshake) this.#end('aborted', `client closed the connection during ${phaseOf(this.#state)}`);
  }

  override onError(socket: Socket, error: Error): void {
    if (this.#state === RELAY) return super.onError(socket, error);
    if (socket === this.#dialing) return this.#dialFailed(error);
    if (this.#state === FORWARD) return this.#forward?.onError(socket, error);
    if (socket !== this.client) return;
    if (this.inHandshake || this.#state === CONNECTING) {
      this.#end(errnoCode(error) === 'ECONNRESET' ? 'reset' : 'error', `client connection failed during ${phaseOf(this.#state)}: ${describeError(error)}`);
    }
  }

  override onClose(socket: Socket, hadError: boolean): void {
    if (this.#state === RELAY) return super.onClose(socket, hadError);
    if (this.#state === FORWARD) return this.#forward?.onClose(socket);
    if (socket !== this.client) return;
    if (this.inHandshake) this.#end('aborted', `client closed the connection during ${phaseOf(this.#state)}`);
    else if (this.#state === CONNECTING) this.#end('aborted', 'client closed the connection while connecting');
  }

  override onDrain(socket: Socket): void {
    if (this.#state === FORWARD) return this.#forward?.onDrain(socket);
    super.onDrain(socket);
  }

  sweep(now: number): boolean {
    if (this.#state === DONE || this.#state === COMMAND) return false;
    if (this.#state === RELAY) {
      const idle = this.config.idleTimeoutMs;
      if (idle <= 0) return false;
      if (now - this.lastActive < idle) return true;
      this.cut('idle-timeout', false);
      return false;
    }
    // A forwarded request stays watched: the next one on the connection has deadlines again.
    if (this.#state === FORWARD) {
      const idle = this.config.idleTimeoutMs;
      if (idle > 0 && now - (this.#forward?.lastActive ?? now) >= idle) this.#end('timeout', 'no traffic for the idle timeout while forwarding');
      return this.#state === FORWARD;
    }
    if (now < this.#deadline) return true;
    if (this.#httpIdle) this.#end('timeout', 'idle between HTTP requests');
    else if (this.#state === HTTP_REQUEST) this.#httpRefuse(408, 'timeout', 'client did not complete the request head in time', 'request timeout');
    else if (this.#state === AUTHENTICATING) this.#loginTimedOut();
    else if (this.inHandshake) this.#end('timeout', `client did not complete the ${phaseOf(this.#state)} in time`);
    else if (this.#state === CONNECTING) this.#dialFailed(new SocxError('timeout', `connecting to ${this.record.dialed ?? 'the target'} timed out after ${this.config.connectTimeoutMs} ms`));
    return false;
  }

  /** The server is shutting down for good: an open relay is reset, anything else ends now. */
  abort(): void {
    if (this.#state === RELAY) return this.cut('aborted', true);
    this.#abort?.abort();
    if (this.#state !== COMMAND) this.#end('aborted', 'server shutting down');
  }

  /** The server stops accepting: an HTTP connection waiting for its next request closes now (its client
   * retries elsewhere), instead of holding the shutdown for the grace period. */
  closeIdle(): void {
    if (this.#httpIdle) this.#finish(undefined, 'ok', 'server shutting down');
  }

  /** Dropped to make room for a newer connection (too many handshakes pending). */
  evict(limit: 'max-connections' | 'max-handshakes'): void {
    this.record.limit = limit;
    this.#end('limit', `dropped for a newer connection: too many pending handshakes (--${limit})`);
  }

  // ---- handshake ---------------------------------------------------------------------------------------

  #handshake(chunk: Buffer): boolean {
    let data = chunk;
    if (this.#partial) {
      data = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    return this.#consume(data);
  }

  /** Parses as many messages as `data` holds; true to keep reading. */
  #consume(data: Buffer): boolean {
    let offset = 0;
    while (offset < data.length && this.inHandshake) {
      const used = this.#step(data, offset);
      if (used === NEED_MORE) break;
      offset += used;
    }
    const rest = offset < data.length ? data.subarray(offset) : undefined;
    if (this.inHandshake) {
      const limit = this.#version === 'http' ? MAX_HTTP_HEAD : this.config.maxHandshakeBytes;
      if (rest && rest.length > limit) {
        this.#refuseMalformed(`client sent more than ${limit} bytes of handshake`);
        return true;
      }
      if (rest) this.#partial = Buffer.from(rest);
      return true;
    }
    if (this.#state === AUTHENTICATING) {
      if (rest) this.#partial = Buffer.from(rest);
      return false;
    }
    if (this.#state === DONE) return true;
    return this.#state === CONNECTING && (this.#head?.length ?? 0) < EARLY_DATA_LIMIT;
  }

  #step(data: Buffer, offset: number): number {
    switch (this.#state) {
      case PROXY_HEADER: return this.#proxyHeader(data, offset);
      case GREETING: return this.#greeting(data, offset);
      case AUTH: return this.#auth(data, offset);
      case REQUEST: return this.#request(data, offset);
      case SOCKS4_REQUEST: return this.#socks4Request(data, offset);
      case HTTP_REQUEST: return this.#httpRequest(data, offset);
      default: return NEED_MORE;
    }
  }

  /** The header is required (HAProxy's accept-proxy): the peer was let in as a balancer, so anything else is
   * refused. v2 headers are capped at the handshake's byte limit. */
  #proxyHeader(data: Buffer, offset: number): number {
    let decoded;
    try {
      decoded = decodeProxyHeader(data, offset, { maxLength: this.config.maxHandshakeBytes });
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.#end('bad-request', `no valid PROXY protocol header: ${error.message}`);
      return data.length - offset;
    }
    if (!decoded.done) return NEED_MORE;
    this.#state = GREETING;
    // LOCAL (a health check) and UNKNOWN leave the connection's own address.
    const source = decoded.value.addresses?.source;
    if (!source) return decoded.length;
    const balancer = this.info.host;
    this.record.balancer = this.record.client;
    this.info = source;
    this.record.client = formatAddress(source);
    if (this.config.onDebug) this.#debug(`through balancer ${this.record.balancer} (PROXY v${decoded.value.version})`);
    if (!this.#host.proxied(this, balancer)) {
      this.record.limit = 'max-connections-per-ip';
      this.#end('limit', `${source.host} has ${this.config.maxConnectionsPerIp} connections open (--max-connections-per-ip)`);
    }
    return decoded.length;
  }

  #greeting(data: Buffer, offset: number): number {
    const first = data[offset] ?? 0;
    if (first === Version.SOCKS4) {
      this.#version = 4;
      this.record.version = 4;
      this.#state = SOCKS4_REQUEST;
      return this.#socks4Request(data, offset);
    }
    if (first !== Version.SOCKS5) {
      if (this.config.http && isHttpStart(first)) return this.#startHttp(data, offset);
      this.#end('not-socks', `not a SOCKS request (first byte 0x${first.toString(16).padStart(2, '0')})`);
      return data.length - offset;
    }
    this.record.version = 5;
    let greeting;
    try {
      greeting = decodeGreeting(data, offset);
    } catch (error) {
      this.#finish(encodeMethodSelection({ method: Method.NO_ACCEPTABLE }), 'bad-request', `bad greeting: ${(error as Error).message}`);
      return 2;
    }
    if (!greeting.done) return NEED_MORE;
    const method = chooseMethod(greeting.value.methods, this.#authenticate !== undefined);
    this.record.method = method === Method.USERPASS ? 'userpass' : method === Method.NONE ? 'none' : 'no-acceptable';
    if (method === Method.NO_ACCEPTABLE) {
      this.#finish(encodeMethodSelection({ method }), 'no-method', `no acceptable method (offered ${greeting.value.methods.join(',')})`);
    } else {
      this.client.write(encodeMethodSelection({ method }));
      this.#state = method === Method.USERPASS ? AUTH : REQUEST;
    }
    return greeting.length;
  }

  /** RFC 1929 §2; a malformed request (wrong version, an empty field) is read whole, then refused. */
  #auth(data: Buffer, offset: number): number {
    if (data.length < offset + 2) return NEED_MORE;
    const ulen = data[offset + 1] ?? 0;
    if (data.length < offset + 3 + ulen) return NEED_MORE;
    const plen = data[offset + 2 + ulen] ?? 0;
    const length = 3 + ulen + plen;
    if (data.length < offset + length) return NEED_MORE;
    const username = data.toString('utf8', offset + 2, offset + 2 + ulen);
    if (data[offset] !== Version.USERPASS || ulen === 0 || plen === 0) {
      this.#user = ulen > 0 ? username : undefined;
      this.record.user = this.#user;
      this.#finish(encodeUserPassReply({ status: AuthStatus.FAILURE }), 'bad-request', 'bad username/password request');
      return length;
    }
    const password = data.toString('utf8', offset + 3 + ulen, offset + length);
    this.#user = username;
    this.record.user = username;
    const authenticate = this.#authenticate;
    if (authenticate) this.#login(authenticate, username, password);
    return length;
  }

  /** The one place a login is decided, SOCKS5's (RFC 1929) and HTTP's (Proxy-Authorization: Basic) alike.
   * The session stays in AUTHENTICATING until the verdict: its reads are stopped, and a close ends it as usual. */
  #login(authenticate: Authenticate, username: string, password: string): void {
    this.#state = AUTHENTICATING;
    this.#authSync = true;
    this.#host.login(this.info.host, (done) => authenticate(username, password, this.info, done), (verdict) => this.#authenticated(verdict));
    this.#authSync = false;
  }

  /** The handshake deadline passed while the login was still being decided (a slow check, or a refusal waiting
   * out its delay): the client still gets a complete refusal, RFC 1929's or a 408. */
  #loginTimedOut(): void {
    const why = 'the login was not decided within the handshake deadline';
    if (this.#version === 'http') return this.#httpRefuse(408, 'timeout', why, 'request timeout');
    this.#finish(encodeUserPassReply({ status: AuthStatus.FAILURE }), 'timeout', why);
  }

  #authenticated(verdict: LoginVerdict): void {
    if (this.#state !== AUTHENTICATING) return;
    if (verdict !== 'ok') {
      const reply = this.#version === 'http' ? encodeHttpError(407, 'authentication failed', [PROXY_AUTHENTICATE]) : encodeUserPassReply({ status: AuthStatus.FAILURE });
      if (this.#version === 'http') this.record.httpStatus = 407;
      if (verdict === 'failed') return this.#finish(reply, 'refused-auth', 'authentication failed');
      this.record.limit = 'login-rate';
      return this.#finish(reply, 'limit', `login refused unchecked: ${LOGIN_REFUSALS[verdict]} from ${clientSource(this.info.host)} (login-rate)`);
    }
    if (this.#version === 'http') return this.#httpAuthenticated();
    this.client.write(encodeUserPassReply({ status: AuthStatus.SUCCESS }));
    this.#state = REQUEST;
    if (this.#authSync) return;
    // Answered later: go on with what the client pipelined meanwhile, then read again.
    const pending = this.#partial;
    this.#partial = undefined;
    if (this.#consume(pending ?? EMPTY)) resumeReads(this.client, this.clientShared);
  }

  #request(data: Buffer, offset: number): number {
    let decoded;
    try {
      decoded = decodeRequest(data, offset);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      const length = error.code === 'bad-address-type' ? 0 : requestLength(data, offset);
      if (length === NEED_MORE) return NEED_MORE;
      this.#refuse(replyFor(error), 'bad-request', `bad request: ${error.message}`);
      return length === 0 ? data.length - offset : length;
    }
    if (!decoded.done) return NEED_MORE;
    const { command, address } = decoded.value;
    this.#keepEarly(data, offset + decoded.length);
    this.#dispatch({ version: 5, command, address, user: this.#user });
    return data.length - offset;
  }

  #socks4Request(data: Buffer, offset: number): number {
    let decoded;
    try {
      decoded = decodeSocks4Request(data, offset);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.#refuse(Reply.GENERAL_FAILURE, 'bad-request', `bad request: ${error.message}`);
      return data.length - offset;
    }
    if (!decoded.done) return NEED_MORE;
    const { command, address, userId } = decoded.value;
    const user = userId === '' ? undefined : userId;
    this.record.user = user;
    this.record.target = formatAddress(address);
    if (!this.config.socks4) this.#refuse(Reply.NOT_ALLOWED, 'refused-rule', 'SOCKS4 is disabled');
    // SOCKS4 has no authentication of its own (USERID is identd's business): letting it through would
    // bypass the passwords.
    else if (this.#authenticate !== undefined) this.#refuse(Reply.NOT_ALLOWED, 'refused-auth', 'SOCKS4 refused: authentication is required');
    else {
      this.#keepEarly(data, offset + decoded.length);
      this.#dispatch({ version: 4, command, address, user });
    }
    return data.length - offset;
  }

  /** Bytes behind the request belong to the upstream (or BIND's peer); copied, since `data` may be the
   * shared read buffer. */
  #keepEarly(data: Buffer, end: number): void {
    if (end < data.length) this.#head = Buffer.from(data.subarray(end));
  }

  #refuseMalformed(why: string): void {
    if (this.#state === SOCKS4_REQUEST) this.#refuse(Reply.GENERAL_FAILURE, 'bad-request', why);
    else this.#end('bad-request', why);
  }

  // ---- the request -------------------------------------------------------------------------------------

  #dispatch(request: SessionRequest): void {
    const { record, config } = this;
    record.handshakeMs = performance.now() - this.#started;
    record.version = request.version;
    record.user = request.user;
    record.target = formatAddress(request.address);
    const command = commandName(request.command);
    record.command = command;
    this.#host.handshakeDone(this);
    if (config.onDebug) {
      this.#debug(`${request.version === 'http' ? 'HTTP' : `SOCKS${request.version}`} ${command ?? `command 0x${request.command.toString(16)}`} ${safeWord(record.target)}${request.user ? ` user ${safeWord(request.user)}` : ''}`);
    }
    const handler = command === 'bind' || command === 'udp' ? config.commands[command] : undefined;
    if (command !== 'connect' && !handler) return this.#refuse(Reply.COMMAND_NOT_SUPPORTED, 'refused-command', replyName(Reply.COMMAND_NOT_SUPPORTED));
    const early = config.policy.precheck({ clientIp: this.info.host, destName: request.address.type === 'domain' ? request.address.host : undefined, port: command === 'udp' ? undefined : request.address.port, command: command ?? 'connect', user: this.#authenticatedUser(request) });
    if (early) return this.#refusedByRule(early);
    // BIND and UDP ASSOCIATE are SOCKS commands; HTTP asks for CONNECT only.
    if (!handler || request.version === 'http') return this.#connect(request);
    this.#runCommand(command as 'bind' | 'udp', handler, request as SocksRequest);
  }

  /** RFC 1929's or Proxy-Authorization's user, for `user=` rules; a SOCKS4 USERID is not a login. */
  #authenticatedUser(request: SessionRequest): string | undefined {
    return request.version !== 4 ? request.user : undefined;
  }

  #check(request: SessionRequest, command: 'connect' | 'bind' | 'udp', destIp: string, destName: string | undefined, port: number): Verdict {
    const verdict = this.config.policy.check({ clientIp: this.info.host, destIp, destName, port, command, user: this.#authenticatedUser(request) }, this.#listener.exposed);
    this.record.rule = verdict.rule;
    return verdict;
  }

  #refusedByRule(verdict: Verdict): void {
    this.record.rule = verdict.rule;
    this.#refuse(Reply.NOT_ALLOWED, 'refused-rule', `rule: ${verdict.rule}`);
  }

  /** CONNECT: a name is resolved here, every address it gives is checked, and the first one allowed is the
   * one dialed — no second lookup, so an answer that changes (DNS rebinding) cannot get around the rules. */
  #connect(request: SessionRequest): void {
    this.#state = CONNECTING;
    const { address } = request;
    const { config } = this;
    this.#deadline = refreshClock() + config.lookupTimeoutMs + config.connectTimeoutMs + 1000;
    const numeric = address.type === 'domain' ? normaliseNumericHost(address.host) : address.host;
    if (numeric !== undefined) {
      const verdict = this.#check(request, 'connect', numeric, undefined, address.port);
      if (!verdict.allowed) return this.#refusedByRule(verdict);
      if (!this.#carries(verdict, numeric)) return this.#refuse(Reply.ADDRESS_TYPE_NOT_SUPPORTED, 'upstream-unreachable', `${numeric} is an IPv6 address, which a SOCKS4 upstream cannot carry`);
      return this.#dial(numeric, address.port, verdict);
    }
    if (config.upstreams !== undefined && this.#nameToUpstream(request)) return;
    const resolver = config.resolver;
    if (!resolver) return this.#refuse(Reply.HOST_UNREACHABLE, 'upstream-unreachable', 'no resolver');
    resolver.lookup(address.host, this.info.host, (error, addresses) => this.#resolved(request, error, addresses));
  }

  /**
   * A name goes to an upstream that resolves names (socks5h, socks4a, http) as it was asked for, when the rules
   * decide on the name alone; when one needs the address (to=CIDR, a set, an exposed listener's defaults),
   * the name is resolved here like any other and the address checked is the one sent on, so that the check
   * and the connection agree. True when the request was dealt with.
   */
  #nameToUpstream(request: SessionRequest): boolean {
    const { host, port } = request.address;
    const verdict = this.config.policy.checkName({ clientIp: this.info.host, destName: host, port, command: 'connect', user: this.#authenticatedUser(request) }, this.#listener.exposed);
    if (verdict === undefined) return false;
    this.record.rule = verdict.rule;
    if (!verdict.allowed) {
      this.#refusedByRule(verdict);
      return true;
    }
    const route = routeOf(this.config.upstreams, verdict);
    if (route === undefined || !resolvesNames(route)) return false;
    this.#dialThrough(route, request.address);
    return true;
  }

  #resolved(request: SessionRequest, error: NodeJS.ErrnoException | null, addresses: readonly ResolvedAddress[]): void {
    if (this.#state !== CONNECTING) return;
    const { host, port } = request.address;
    if (error) {
      const outcome: Outcome = error.code === 'ETIMEOUT' ? 'timeout' : error.code === 'ELOOKUPLIMIT' ? 'limit' : 'upstream-unreachable';
      if (outcome === 'limit') this.record.limit = 'lookups';
      return this.#refuse(replyFor(error), outcome, error.message);
    }
    let refused: Verdict | undefined;
    let uncarried = false;
    for (const { address } of addresses) {
      const verdict = this.#check(request, 'connect', address, host, port);
      if (verdict.allowed && !this.#carries(verdict, address)) uncarried = true;
      else if (verdict.allowed) return this.#dial(address, port, verdict);
      else refused ??= verdict;
    }
    if (uncarried && !refused) return this.#refuse(Reply.ADDRESS_TYPE_NOT_SUPPORTED, 'upstream-unreachable', `${host} has only IPv6 addresses, which a SOCKS4 upstream cannot carry`);
    this.#refusedByRule(refused ?? { allowed: false, rule: 'default: deny (no address)' });
  }

  /** A socks4:// upstream carries IPv4 only. */
  #carries(verdict: Verdict, ip: string): boolean {
    if (this.config.upstreams === undefined || !isIPv6(ip)) return true;
    const route = routeOf(this.config.upstreams, verdict);
    return route === undefined || carriesIpv6(route);
  }

  #dial(ip: string, port: number, verdict: Verdict): void {
    const { config } = this;
    if (config.upstreams !== undefined) {
      const route = routeOf(config.upstreams, verdict);
      if (route !== undefined) return this.#dialThrough(route, toAddress(ip, port));
    }
    // A forwarded request's origin is read with 'data' events: its bytes are parsed, then written on.
    const shared = this.clientShared && this.#forwardPlan === undefined;
    const onread = shared ? sharedOnread(onSharedRead) : undefined;
    const localAddress = egressFor(config.egress, ip);
    this.record.dialed = formatAddress({ host: ip, port });
    this.#deadline = refreshClock() + config.connectTimeoutMs;
    this.#dialStarted = performance.now();
    if (config.dial !== dialUpstream) {
      // An injected dial (tests, and upstream proxies later) keeps its promise.
      config.dial(ip, port, { timeoutMs: config.connectTimeoutMs, onread, localAddress })
        .then((dialed) => this.#connected(dialed, shared), (error: unknown) => this.#dialFailed(error));
      return;
    }
    // The default dial without a promise or a timer: the socket is the session's from the start, its
    // 'connect' reaches a shared listener, and the sweep enforces the deadline.
    const socket = connect({ host: ip, port, allowHalfOpen: true, noDelay: true, ...(onread ? { onread } : {}), ...(localAddress ? { localAddress } : {}) });
    this.#dialing = socket;
    adopt(socket, this, shared);
    socket.once('connect', onUpstreamConnect);
  }

  /** CONNECT through an upstream: the one SOCKS client (lib/client) does the hops; what the last one answers
   * (its refusal code, its BND address) is what our client gets. */
  #dialThrough(upstream: Upstream, target: Address): void {
    const { config, record } = this;
    record.dialed = formatAddress(target);
    record.upstream = upstream.name;
    this.#deadline = refreshClock() + config.connectTimeoutMs;
    this.#dialStarted = performance.now();
    const abort = new AbortController();
    this.#abort = abort;
    if (config.onDebug) this.#debug(`CONNECT ${safeText(record.dialed)} via ${upstream.name} (${describeUpstream(upstream)})`);
    openThrough(upstream, 'connect', target, { timeoutMs: config.connectTimeoutMs, signal: abort.signal, dial: config.dial, egress: config.egress })
      .then(
        ({ socket, head, bound }) => this.#connected({ socket, head: head.length > 0 ? head : undefined }, false, bound),
        (error: unknown) => this.#dialFailed(error, `via ${upstream.name}: ${describeError(error)}`),
      );
  }

  upstreamConnected(socket: Socket): void {
    if (socket !== this.#dialing) return;
    this.#dialing = undefined;
    this.#connected({ socket, head: undefined }, this.clientShared);
  }

  /** `bound`: the BND address an upstream proxy gave; else our own end of the connection. */
  #connected({ socket, head }: Dialed, shared: boolean, bound?: Address): void {
    if (this.#state !== CONNECTING) {
      socket.destroy();
      return;
    }
    const early = adopt(socket, this, shared) ?? this.#upstreamEarly;
    this.#upstreamEarly = undefined;
    const fromUpstream = head && early ? Buffer.concat([head, early]) : head ?? early;
    const { record, config } = this;
    record.connectMs = performance.now() - this.#dialStarted;
    if (this.#forwardPlan) return this.#startForward(socket, fromUpstream, this.#forwardPlan);
    const sent = bound ?? localAddressOf(socket);
    if (this.#version === 'http') this.#httpConnected();
    else this.client.write(encodeServerReply(this.#version, Reply.SUCCEEDED, sent));
    record.reply = Reply.SUCCEEDED;
    record.bound = formatAddress(sent);
    // The client's leg has keepalive from the listener (server.ts); the upstream's is set here.
    if (config.keepAliveMs > 0) socket.setKeepAlive(true, config.keepAliveMs);
    this.#state = RELAY;
    const fromClient = this.#head;
    this.#head = this.#partial = undefined;
    this.startRelay(socket, shared, fromClient, fromUpstream);
  }

  #dialFailed(error: unknown, why = dialErrorText(error)): void {
    if (this.#state !== CONNECTING) return;
    this.#dialing?.destroy();
    this.#dialing = undefined;
    const errno = errnoCode(error);
    if (errno === 'EMFILE' || errno === 'ENFILE') this.#host.outOfDescriptors(`${errno} opening an upstream connection`);
    const code = replyFor(error);
    const refused = code === Reply.CONNECTION_REFUSED || (error instanceof SocxError && error.reply !== undefined && !error.beforeLastHop);
    const outcome: Outcome = code === Reply.TTL_EXPIRED ? 'timeout' : refused ? 'upstream-refused' : 'upstream-unreachable';
    this.#refuse(code, outcome, why);
  }

  protected relayEnded(end: RelayEnd, error: Error | undefined): void {
    const { record } = this;
    record.ok = true;
    record.bytesUp = this.bytesUp - this.#forwardedUp;
    record.bytesDown = this.bytesDown - this.#forwardedDown;
    record.outcome = end === 'completed' || end === 'idle-timeout' ? 'ok' : end === 'reset' ? 'reset' : end === 'aborted' ? 'aborted' : 'error';
    record.result = end === 'completed' ? 'ok' : `ok, ended: ${end}${error ? ` (${errnoCode(error) ?? error.message})` : ''}`;
    if (this.#relayDone) {
      const resolve = this.#relayDone;
      this.#relayDone = undefined;
      this.#state = COMMAND;
      resolve();
      return;
    }
    this.#state = DONE;
    this.#done();
  }

  /** BIND and UDP ASSOCIATE: less traffic, more waiting; their handlers are async and get a context. */
  #runCommand(command: 'bind' | 'udp', handler: CommandHandler, request: SocksRequest): void {
    this.#state = COMMAND;
    const ip = this.info.host;
    if (command === 'bind' && !this.#host.acquireBind(ip)) {
      this.#state = REQUEST;
      this.record.limit = 'max-binds-per-ip';
      return this.#refuse(Reply.NOT_ALLOWED, 'limit', `${ip} has ${this.config.maxBindsPerIp} BINDs open already`);
    }
    const abort = new AbortController();
    this.#abort = abort;
    this.client.once('close', () => abort.abort());
    const context: CommandContext = {
      socket: this.client,
      head: this.#head ?? this.#partial ?? EMPTY,
      request,
      client: this.info,
      config: this.config,
      record: this.record,
      signal: abort.signal,
      debug: (message) => this.#debug(message),
      checkPolicy: (destIp, destName, port) => this.#check(request, command, destIp, destName, port),
      checkName: (destName, port) => {
        const verdict = this.config.policy.checkName({ clientIp: this.info.host, destName, port, command, user: this.#authenticatedUser(request) }, this.#listener.exposed);
        if (verdict) this.record.rule = verdict.rule;
        return verdict;
      },
      reply: (code: number, bound: Address) => {
        // The first success reply's address is BND; BIND's second names the peer (the record's `peer`).
        if (this.record.reply === undefined) this.record.bound = formatAddress(bound);
        this.record.reply = code;
        this.client.write(encodeServerReply(request.version, code, bound));
      },
      refuse: (code: number, why: string, limit?: LimitName) => {
        this.record.reply = code;
        this.record.limit = limit;
        this.record.outcome = limit ? 'limit' : code === Reply.NOT_ALLOWED ? 'refused-rule' : code === Reply.TTL_EXPIRED ? 'timeout' : code === Reply.COMMAND_NOT_SUPPORTED ? 'refused-command' : 'error';
        this.record.result = refusalText(code, why);
        closeAfterReply(this.client, encodeFailure(request.version, code));
      },
      relay: (peer: Socket, head: Buffer, fromPeer?: Buffer) => new Promise<void>((resolve) => {
        this.#relayDone = resolve;
        adopt(peer, this, false);
        this.#state = RELAY;
        this.startRelay(peer, false, head, fromPeer);
      }),
    };
    this.#head = this.#partial = undefined;
    this.record.outcome = 'ok';
    handler(context).catch((error: unknown) => {
      this.record.outcome = 'error';
      this.record.result = describeError(error);
      this.client.destroy();
    }).finally(() => {
      if (command === 'bind') this.#host.releaseBind(ip);
      this.#state = DONE;
      this.#done();
    });
  }

  // ---- the end -----------------------------------------------------------------------------------------

  #refuse(code: number, outcome: Outcome, why: string): void {
    this.record.reply = code;
    this.#finish(this.#version === 'http' ? this.#httpFailure(code, outcome) : encodeFailure(this.#version, code), outcome, refusalText(code, why));
  }

  /** Sends the last reply and closes once the client has read it. */
  #finish(reply: Buffer | undefined, outcome: Outcome, result: string): void {
    if (!this.#settle(outcome, result)) return;
    closeAfterReply(this.client, reply);
    this.#done();
  }

  /** Ends without a reply (the client is gone, or never spoke SOCKS, or ran out of time). */
  #end(outcome: Outcome, result: string): void {
    if (!this.#settle(outcome, result)) return;
    if (outcome === 'reset' || outcome === 'limit') reset(this.client);
    else this.client.destroy();
    this.#done();
  }

  /** What every ending does first; false when the session had ended already. */
  #settle(outcome: Outcome, result: string): boolean {
    if (this.#state === DONE) return false;
    const wasHandshake = this.inHandshake;
    this.#state = DONE;
    this.record.outcome = outcome;
    this.record.result = result;
    if (wasHandshake) this.#host.handshakeDone(this);
    this.#partial = this.#head = undefined;
    this.#dialing?.destroy();
    this.#dialing = undefined;
    // A CONNECT through an upstream still in its handshake: the client library closes its socket.
    this.#abort?.abort();
    this.#forward?.origin.destroy();
    this.#forward = undefined;
    return true;
  }

  #reported = false;

  #done(): void {
    if (this.#reported) return;
    this.#reported = true;
    this.record.durationMs = performance.now() - this.#started;
    this.#host.sweeper.delete(this);
    this.#host.sessionDone(this);
    if (!this.#httpIdle) this.config.onConnection(this.record);
  }

  // ---- HTTP proxy --------------------------------------------------------------------------------------

  #startHttp(data: Buffer, offset: number): number {
    this.#version = 'http';
    this.record.version = 'http';
    this.#state = HTTP_REQUEST;
    return this.#httpRequest(data, offset);
  }

  /** One request head; CONNECT and absolute-form requests go the way of a SOCKS CONNECT from here: the same
   * login, rules, lookup and dial. */
  #httpRequest(data: Buffer, offset: number): number {
    if (this.#httpIdle) this.#nextHttpRequest();
    const read = readHttpRequest(data, offset);
    if (!read) return NEED_MORE;
    const { request } = read;
    if (request.kind === 'refuse') {
      this.#httpRefuse(request.status, request.outcome, request.why, request.detail);
      return data.length - offset;
    }
    this.#keepEarly(data, offset + read.used);
    this.#forwardPlan = request.forward;
    this.record.httpMethod = request.forward?.method;
    const authenticate = this.#authenticate;
    // Without logins, a user name the client sends is not checked, so it is not one (for user= rules).
    const credentials = authenticate ? request.credentials : undefined;
    this.record.method = !authenticate ? 'none' : credentials ? 'userpass' : 'no-acceptable';
    const sessionRequest: SessionRequest = { version: 'http', command: Command.CONNECT, address: request.address, user: credentials?.username };
    this.record.target = formatAddress(request.address);
    this.record.user = sessionRequest.user;
    if (!authenticate) this.#dispatch(sessionRequest);
    else if (!credentials) this.#httpRefuse(407, 'refused-auth', 'no Proxy-Authorization: Basic credentials', 'proxy authentication required');
    else {
      this.#httpPending = sessionRequest;
      this.#login(authenticate, credentials.username, credentials.password);
    }
    return data.length - offset;
  }

  /** The first bytes of the next request on a kept-alive connection: its own record and deadline. */
  #nextHttpRequest(): void {
    this.#httpIdle = false;
    this.record = newRecord(this.record.client, this.record.listener, this.record.balancer);
    this.record.version = 'http';
    this.config.onConnectionStart?.(this.record);
    this.#started = performance.now();
    this.#deadline = refreshClock() + this.config.handshakeTimeoutMs;
  }

  #httpAuthenticated(): void {
    const request = this.#httpPending;
    this.#httpPending = undefined;
    if (!request) return;
    // What arrived while the password was checked belongs behind the head, with the rest of the body.
    if (this.#partial) this.#head = this.#head ? Buffer.concat([this.#head, this.#partial]) : this.#partial;
    this.#partial = undefined;
    this.#dispatch(request);
    if (!this.#authSync && this.#state === CONNECTING) resumeReads(this.client, this.clientShared);
  }

  /** `detail` is the body's text: fixed words, never what the client sent. */
  #httpRefuse(status: number, outcome: Outcome, why: string, detail: string): void {
    this.record.httpStatus = status;
    this.#finish(encodeHttpError(status, detail, status === 407 ? [PROXY_AUTHENTICATE] : []), outcome, `HTTP ${status} (${why})`);
  }

  /** A refusal in HTTP terms, by the one table from the SOCKS reply. */
  #httpFailure(code: number, outcome: Outcome): Buffer {
    this.record.httpStatus = httpStatusFor(code, outcome);
    return encodeHttpFailure(code, outcome);
  }

  #httpConnected(): void {
    this.client.write(encodeHttpConnected());
    this.record.httpStatus = 200;
  }

  #startForward(origin: Socket, fromOrigin: Buffer | undefined, plan: ForwardPlan): void {
    this.#state = FORWARD;
    const fromClient = this.#head;
    this.#head = this.#partial = undefined;
    this.#forward = new HttpForward(this, this.client, this.clientShared, origin, plan);
    this.#forward.start(fromClient, fromOrigin);
  }

  /** An exchange is over: recorded, then the connection closes or waits for the next request. */
  forwardEnded(end: ForwardEnd): void {
    const forward = this.#forward;
    this.#forward = this.#forwardPlan = undefined;
    const { record } = this;
    record.bytesUp = forward?.bytesUp ?? 0;
    record.bytesDown = forward?.bytesDown ?? 0;
    this.bytesUp += record.bytesUp;
    this.bytesDown += record.bytesDown;
    this.#forwardedUp = this.bytesUp;
    this.#forwardedDown = this.bytesDown;
    record.httpStatus = end.status;
    record.ok = end.outcome === 'ok';
    if (end.cut) return this.#end(end.outcome, end.result);
    if (!end.keepAlive || this.#host.closing) return this.#finish(end.reply, end.outcome, end.result);
    record.outcome = 'ok';
    record.result = 'ok';
    record.durationMs = performance.now() - this.#started;
    this.config.onConnection(record);
    // Until the next request begins (#nextHttpRequest) there is nothing to record.
    this.record = newRecord(record.client, record.listener, record.balancer);
    this.#httpIdle = true;
    this.#state = HTTP_REQUEST;
    this.#deadline = refreshClock() + this.config.httpIdleTimeoutMs;
    if (this.#consume(end.rest ?? EMPTY)) resumeReads(this.client, this.clientShared);
  }
}

/** `balancer`: the load balancer, when a PROXY header named the client. */
function newRecord(client: string, listener: string, balancer: string | undefined): ConnectionRecord {
  return {
    time: Date.now(), client, balancer, listener, version: undefined, method: undefined,
    command: undefined, target: undefined, user: undefined, ok: false, outcome: 'aborted', reply: undefined,
    rule: undefined, limit: undefined, upstream: undefined, dialed: undefined, bound: undefined, peer: undefined, result: '',
    bytesUp: 0, bytesDown: 0, handshakeMs: 0, connectMs: undefined, durationMs: 0, udp: undefined,
    httpMethod: undefined, httpStatus: undefined,
  };
}

/** The log's words for a refusal: the reply's name, and why when that adds something. */
function refusalText(code: number, why: string): string {
  return why === replyName(code) ? why : `${replyName(code)} (${why})`;
}

/** BND.ADDR/PORT: the local end of the upstream socket, as RFC 1928 §6 asks. */
export function localAddressOf(socket: Socket): Address {
  return toAddress(socket.localAddress ?? '0.0.0.0', socket.localPort ?? 0);
}
