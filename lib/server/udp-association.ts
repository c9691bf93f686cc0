import dgram, { type RemoteInfo, type Socket as UdpSocket, type SocketType } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Address } from '../codec/address.ts';
import { CodecError } from '../codec/decoded.ts';
import { canonicalIp } from '../codec/ip.ts';
import { decodeUdpDatagram, encodeUdpHeader, MAX_UDP_PAYLOAD_IPV4, MAX_UDP_PAYLOAD_IPV6, writeUdpHeader } from '../codec/socks5.ts';
import type { UdpSession } from '../client/udp.ts';
import type { Egress } from '../dial.ts';
import { listenErrorText } from './listen-address.ts';
import type { Resolve } from './udp-names.ts';
import { NameRouter } from './udp-names.ts';

/** Why a datagram was not relayed: from a source other than the client (`source`), a fragment (`frag`, RFC
 * 1928 §7 reassembly is optional and we do not do it), a header we cannot read (`malformed`), port 0
 * (`bad-target`), a name that did not resolve (`resolve`), a destination the policy refuses (`rule`), a send
 * the kernel refused or that found its socket's queue full (`send`), or a reply too big to carry with its
 * header back to the client (`too-big`). */
export const UDP_DROP_REASONS = ['source', 'frag', 'malformed', 'bad-target', 'resolve', 'rule', 'send', 'too-big', 'route'] as const;
export type UdpDropReason = typeof UDP_DROP_REASONS[number];

/** Where one datagram goes through an upstream association: on to the upstream, straight to the target
 * (`via=direct`), or nowhere (refused by a rule: `rule`; routed to another upstream: `route`). */
export type UdpRoute = 'upstream' | 'direct' | 'rule' | 'route';

/** Where one datagram goes from an association without an upstream. */
export type DirectUdpRoute = Exclude<UdpRoute, 'upstream'>;

/** UDP ASSOCIATE through an upstream (serve --upstream): the association the upstream granted us, and the
 * per-datagram routing. */
export interface UdpUpstream {
  readonly session: UdpSession;
  /** The route of a datagram to an address (and the name it asked for, if any). */
  readonly route: (address: string, port: number, name: string | undefined) => UdpRoute;
  /** The route of a datagram to a name the upstream resolves, decided on the name alone; undefined when the
   * rules need the address, and `direct`: the name is then resolved here (and the address checked is the one
   * sent). */
  readonly routeName: ((name: string, port: number) => UdpRoute | undefined) | undefined;
}
export type UdpEndReason = 'control-closed' | 'idle-timeout' | 'socket-error' | 'shutdown' | 'upstream-closed';

export interface UdpCounters {
  /** Client to targets: datagrams sent on, and their payload bytes (headers not counted). */
  datagramsUp: number;
  bytesUp: number;
  /** Targets to the client. */
  datagramsDown: number;
  bytesDown: number;
  dropped: number;
  droppedBytes: number;
  readonly drops: Record<UdpDropReason, number>;
}

export function newUdpCounters(): UdpCounters {
  return {
    datagramsUp: 0, bytesUp: 0, datagramsDown: 0, bytesDown: 0, dropped: 0, droppedBytes: 0,
    drops: Object.fromEntries(UDP_DROP_REASONS.map((reason) => [reason, 0])) as Record<UdpDropReason, number>,
  };
}

/** Adds `from`'s counts to `into`'s. */
export function addUdpCounters(into: UdpCounters, from: UdpCounters): void {
  into.datagramsUp += from.datagramsUp;
  into.bytesUp += from.bytesUp;
  into.datagramsDown += from.datagramsDown;
  into.bytesDown += from.bytesDown;
  into.dropped += from.dropped;
  into.droppedBytes += from.droppedBytes;
  for (const reason of UDP_DROP_REASONS) into.drops[reason] += from.drops[reason];
}

export interface UdpAssociationOptions {
  /** The only IP the client's datagrams may come from: the TCP peer's, canonical (canonicalIp). */
  readonly clientHost: string;
  /** The port they must come from (DST.PORT of the request); 0 latches to the first valid datagram's. */
  readonly clientPort: number;
  /** The local IP to bind the client-facing relay socket on: where the control connection arrived. */
  readonly localHost: string;
  readonly portRange?: { readonly low: number; readonly high: number } | undefined;
  /** End the association after this long without a relayed datagram; 0 never. */
  readonly idleTimeoutMs: number;
  readonly resolve: Resolve;
  /** The destination policy and routing, per datagram: the address it goes to and the name it asked for, if
   * any. A datagram a rule routes to an upstream is dropped, never sent direct. */
  readonly route?: ((address: string, port: number, name: string | undefined) => DirectUdpRoute) | undefined;
  /** serve --egress: the source address of the sockets towards targets. */
  readonly egress?: Egress | undefined;
  /** Datagrams go on through this upstream (routed per datagram); `route` is then not used. */
  readonly upstream?: UdpUpstream | undefined;
  readonly debug?: ((message: string) => void) | undefined;
}

/** Bytes a relay socket may hold queued for sending beyond what the kernel took: libuv's send queue has no
 * bound of its own, so a client that sends faster than the path to its target carries (or a target faster
 * than the path to the client) would otherwise grow the heap without limit. UDP may drop; past this it does. */
export const MAX_SEND_QUEUE_BYTES = 256 * 1024;

/** The socket cannot take another datagram now: its send queue is full. */
function sendQueueFull(socket: { getSendQueueSize(): number }): boolean {
  return socket.getSendQueueSize() >= MAX_SEND_QUEUE_BYTES;
}

/** RSV(2) FRAG(1) ATYP(1) LEN(1) NAME(255) PORT(2): the longest RFC 1928 §7 header. */
const MAX_HEADER = 262;

/** dgram resolves even IP literals through dns.lookup, a tick later. We only ever pass literals of the
 * socket's own family, and a send that goes out synchronously is what lets a preallocated reply header be
 * reused safely. */
type LookupCallback = (error: null, address: string, family: number) => void;
const literalLookup4 = (address: string, _options: unknown, callback: LookupCallback): void => callback(null, address, 4);
const literalLookup6 = (address: string, _options: unknown, callback: LookupCallback): void => callback(null, address, 6);

function createUdpSocket(type: SocketType): UdpSocket {
  return dgram.createSocket({ type, ipv6Only: type === 'udp6', lookup: type === 'udp6' ? literalLookup6 : literalLookup4 });
}

function bindOnce(type: SocketType, host: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createUdpSocket(type);
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** Why an --egress address cannot be used, found by binding to it as the relay's sockets towards targets will
 * (a CONNECT through it would only fail one connection at a time): undefined when each one binds. */
export async function egressProblem(egress: Egress | undefined): Promise<string | undefined> {
  for (const address of [egress?.ipv4, egress?.ipv6]) {
    if (address === undefined) continue;
    try {
      (await bindOnce(isIPv6(address) ? 'udp6' : 'udp4', address, 0)).close();
    } catch (error) {
      return `--egress ${address}: ${listenErrorText(error, [])}`;
    }
  }
  return undefined;
}

/** The client-facing socket on `host`: any free port, or the first free one in the range from a random start
 * (so concurrent associations do not all race for `low`). */
export async function bindRelaySocket(host: string, range: UdpAssociationOptions['portRange']): Promise<UdpSocket> {
  const type: SocketType = isIPv6(host) ? 'udp6' : 'udp4';
  if (!range) return bindOnce(type, host, 0);
  const size = range.high - range.low + 1;
  const start = Math.floor(Math.random() * size);
  let last: unknown;
  for (let i = 0; i < size; i++) {
    try {
      return await bindOnce(type, host, range.low + ((start + i) % size));
    } catch (error) {
      last = error;
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw Object.assign(new Error(`no free UDP port in ${range.low}-${range.high}`), { code: 'EADDRINUSE', cause: last });
}

export async function openUdpAssociation(options: UdpAssociationOptions): Promise<UdpAssociation> {
  return new UdpAssociation(await bindRelaySocket(options.localHost, options.portRange), options);
}

/**
 * One RFC 1928 §7 UDP relay: a client-facing socket (the port announced in the reply) and, opened on first
 * use, one socket per address family towards the targets. Separate sockets keep the client's datagrams apart
 * from the targets' even when both share an IP (loopback), and let a relay announced on 127.0.0.1 still reach
 * targets elsewhere.
 *
 * Per datagram the paths allocate no more than a view of the payload (dgram's own message buffer and send
 * request aside) while the client keeps talking to the same targets: the last request header is compared
 * byte for byte instead of decoded again, and the reply header is written into a preallocated buffer only when
 * the source changes, then sent with the payload as a two-buffer send (no copy), with one shared callback.
 */
export class UdpAssociation {
  readonly counters: UdpCounters = newUdpCounters();
  readonly ended: Promise<UdpEndReason>;
  readonly #relay: UdpSocket;
  readonly #options: UdpAssociationOptions;
  readonly #clientHost: string;
  #clientPort: number;
  readonly #maxToClient: number;
  #up4: UdpSocket | null | undefined;
  #up6: UdpSocket | null | undefined;
  #endReason: UdpEndReason | undefined;
  #resolveEnded!: (reason: UdpEndReason) => void;
  readonly #names: NameRouter;
  // The last request header seen and what it decoded to.
  readonly #lastHeader = Buffer.alloc(MAX_HEADER);
  #lastHeaderLength = 0;
  #lastTarget: Address | undefined;
  // The reply header for the last source, in a buffer replaced whenever a queued send may still read it.
  #replyStore = Buffer.allocUnsafe(22);
  #replyHeader: Buffer = this.#replyStore;
  #replyHost = '';
  #replyPort = -1;
  #active = false;
  #lastActive = performance.now();
  readonly #idleTimer: NodeJS.Timeout | undefined;

  constructor(relay: UdpSocket, options: UdpAssociationOptions) {
    this.#relay = relay;
    this.#options = options;
    this.#clientHost = options.clientHost;
    this.#clientPort = options.clientPort;
    this.#maxToClient = isIPv6(options.clientHost) ? MAX_UDP_PAYLOAD_IPV6 : MAX_UDP_PAYLOAD_IPV4;
    this.ended = new Promise((resolve) => { this.#resolveEnded = resolve; });
    this.#names = new NameRouter(options.resolve, {
      send: (family, address, port, payload, name) => this.#sendUp(family, address, port, payload, name),
      drop: (bytes) => this.#drop('resolve', bytes),
      debug: options.debug,
    });
    relay.on('message', this.#onClientDatagram);
    relay.on('error', (error) => {
      options.debug?.(`UDP relay socket failed: ${error.message}`);
      this.close('socket-error');
    });
    options.upstream?.session.onDatagram(this.#onUpstreamDatagram);
    void options.upstream?.session.closed.then(() => this.close('upstream-closed'));
    if (options.idleTimeoutMs > 0) {
      const every = Math.min(5000, Math.max(50, options.idleTimeoutMs / 4));
      this.#idleTimer = setInterval(this.#checkIdle, every).unref();
    }
  }

  /** The client-facing port (BND.PORT). */
  get port(): number {
    return this.#relay.address().port;
  }

  /** The client's port once known (0 until its first valid datagram when the request gave none). */
  get clientPort(): number {
    return this.#clientPort;
  }

  get closed(): boolean {
    return this.#endReason !== undefined;
  }

  /** Closes every socket now (the ports are free when this returns) and settles `ended`. */
  close(reason: UdpEndReason): void {
    if (this.#endReason) return;
    this.#endReason = reason;
    if (this.#idleTimer) clearInterval(this.#idleTimer);
    for (const socket of [this.#relay, this.#up4, this.#up6]) {
      try {
        socket?.close();
      } catch {
        // already closed after an error
      }
    }
    this.#options.upstream?.session.close('the client association ended');
    this.#names.stop();
    this.#resolveEnded(reason);
  }

  readonly #checkIdle = (): void => {
    const now = performance.now();
    if (this.#active) {
      this.#active = false;
      this.#lastActive = now;
    } else if (now - this.#lastActive >= this.#options.idleTimeoutMs) {
      this.close('idle-timeout');
    }
  };

  #drop(reason: UdpDropReason, bytes: number): void {
    const { counters } = this;
    if (counters.drops[reason]++ === 0) this.#options.debug?.(`UDP: dropping datagrams (${reason}); only the first is reported`);
    counters.dropped++;
    counters.droppedBytes += bytes;
  }

  #dropped(reason: UdpDropReason, bytes: number): undefined {
    this.#drop(reason, bytes);
    return undefined;
  }

  readonly #onClientDatagram = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (rinfo.address !== this.#clientHost || (this.#clientPort !== 0 && rinfo.port !== this.#clientPort)) {
      return this.#drop('source', msg.length);
    }
    let headerLength = this.#lastHeaderLength;
    let target = this.#lastTarget;
    if (headerLength === 0 || msg.length < headerLength || !startsWith(msg, this.#lastHeader, headerLength)) {
      target = this.#readHeader(msg);
      if (!target) return;
      headerLength = this.#lastHeaderLength;
    }
    if (this.#clientPort === 0) {
      this.#clientPort = rinfo.port;
      this.#options.debug?.(`UDP: client is ${rinfo.address} port ${rinfo.port}`);
    }
    const payload = msg.subarray(headerLength);
    if (!target) return;
    if (target.type === 'domain') {
      const where = this.#options.upstream?.routeName?.(target.host, target.port);
      if (where === 'upstream') this.#sendThrough(target, payload);
      else if (where === 'rule' || where === 'route') this.#drop(where, payload.length);
      else this.#names.route(target.host, target.port, payload);
    } else this.#sendUp(target.type === 'ipv4' ? 4 : 6, target.host, target.port, payload, undefined, target);
  };

  /** Decodes a header that differs from the last one; on success it becomes the last one. */
  #readHeader(msg: Buffer): Address | undefined {
    let decoded;
    try {
      decoded = decodeUdpDatagram(msg);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      return this.#dropped('malformed', msg.length);
    }
    // A datagram arrives whole: running short is a truncated header.
    if (!decoded.done) return this.#dropped('malformed', msg.length);
    const { frag, payload } = decoded.value;
    let address = decoded.value.address;
    if (frag !== 0) return this.#dropped('frag', msg.length);
    if (address.port === 0) return this.#dropped('bad-target', msg.length);
    // An IPv4-mapped IPv6 target is an IPv4 one: the IPv6 socket is IPv6-only.
    if (address.type === 'ipv6' && address.host.startsWith('::ffff:') && address.host.includes('.')) {
      address = { type: 'ipv4', host: canonicalIp(address.host), port: address.port };
    }
    const headerLength = msg.length - payload.length;
    msg.copy(this.#lastHeader, 0, 0, headerLength);
    this.#lastHeaderLength = headerLength;
    this.#lastTarget = address;
    return address;
  }

  /** `target`: the header's address when it was one (an upstream's header cache keys on it). */
  #sendUp(family: 4 | 6, host: string, port: number, payload: Buffer, name?: string, target?: Address): void {
    const upstream = this.#options.upstream;
    if (upstream) {
      const where = upstream.route(host, port, name);
      if (where === 'upstream') return this.#sendThrough(target ?? { type: family === 4 ? 'ipv4' : 'ipv6', host, port }, payload);
      if (where !== 'direct') return this.#drop(where, payload.length);
    } else {
      const where = this.#options.route?.(host, port, name) ?? 'direct';
      if (where !== 'direct') return this.#drop(where, payload.length);
    }
    if ((family === 4 ? this.#up4 : this.#up6) === undefined) this.#openUpstream(family === 4 ? 'udp4' : 'udp6');
    // Read after opening: a bind that failed at once has set it to null.
    const socket = family === 4 ? this.#up4 : this.#up6;
    if (!socket || sendQueueFull(socket)) return this.#drop('send', payload.length);
    this.#active = true;
    this.counters.datagramsUp++;
    this.counters.bytesUp += payload.length;
    socket.send(payload, port, host, this.#afterSendUp);
  }

  #sendThrough(target: Address, payload: Buffer): void {
    const upstream = this.#options.upstream;
    if (!upstream || upstream.session.closeReason !== undefined || sendQueueFull(upstream.session)) return this.#drop('send', payload.length);
    this.#active = true;
    this.counters.datagramsUp++;
    this.counters.bytesUp += payload.length;
    upstream.session.send(target, payload, this.#afterSendUp);
  }

  /** A datagram from the upstream's relay: the target's address is in its header, which goes to the client as
   * the upstream wrote it (re-encoded). */
  readonly #onUpstreamDatagram = (payload: Buffer, from: Address): void => {
    const last = this.#upstreamFrom;
    if (last === undefined || last.port !== from.port || last.host !== from.host || last.type !== from.type) {
      this.#upstreamFrom = from;
      this.#upstreamHeader = encodeUdpHeader(from);
    }
    this.#sendDown(this.#upstreamHeader, payload);
  };

  /** Relays `payload` to the client behind `header`; false when the two are too big to carry. */
  #sendDown(header: Buffer, payload: Buffer): boolean {
    if (header.length + payload.length > this.#maxToClient) {
      this.#drop('too-big', payload.length);
      return false;
    }
    if (sendQueueFull(this.#relay)) {
      this.#drop('send', payload.length);
      return false;
    }
    this.#active = true;
    this.counters.datagramsDown++;
    this.counters.bytesDown += payload.length;
    this.#relay.send([header, payload], this.#clientPort, this.#clientHost, this.#afterSendDown);
    return true;
  }

  #upstreamFrom: Address | undefined;
  #upstreamHeader: Buffer = Buffer.alloc(0);

  // A failed send was counted as relayed already; it moves to the drops (its size is not reported back).
  readonly #afterSendUp = (error: Error | null): void => {
    if (!error) return;
    this.counters.datagramsUp--;
    this.#drop('send', 0);
  };

  readonly #afterSendDown = (error: Error | null): void => {
    if (!error) return;
    this.counters.datagramsDown--;
    this.#drop('send', 0);
  };

  /** Bound (by the first send) to the wildcard address of its family: targets may be anywhere. */
  #openUpstream(type: SocketType): void {
    const socket = createUdpSocket(type);
    if (type === 'udp4') this.#up4 = socket;
    else this.#up6 = socket;
    const egress = type === 'udp6' ? this.#options.egress?.ipv6 : this.#options.egress?.ipv4;
    socket.on('message', this.#onTargetDatagram);
    // Before the bind: with a literal lookup, a bind that fails (an --egress this machine lost) emits at once.
    socket.on('error', (error) => {
      // Without IPv6, say, the implicit bind fails; later datagrams of that family are dropped ('send').
      this.#options.debug?.(`UDP: ${type} socket towards targets failed: ${error.message}`);
      if (type === 'udp4') this.#up4 = null;
      else this.#up6 = null;
      try {
        socket.close();
      } catch {
        // not running
      }
    });
    // dgram queues the sends made before this bind completes.
    if (egress) socket.bind({ address: egress, port: 0 });
  }

  readonly #onTargetDatagram = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (this.#replyPort !== rinfo.port || this.#replyHost !== rinfo.address) this.#writeReplyHeader(rinfo);
    if (!this.#sendDown(this.#replyHeader, msg)) return;
    // A send the kernel could not take at once is queued with a reference to our header: use a fresh one.
    if (this.#relay.getSendQueueCount() > 0) {
      this.#replyStore = Buffer.allocUnsafe(22);
      this.#replyPort = -1;
    }
  };

  /** RFC 1928 §7: a reply carries the address and port of the target it came from. */
  #writeReplyHeader(rinfo: RemoteInfo): void {
    const store = this.#replyStore;
    const host = rinfo.address.includes('%') ? (rinfo.address.split('%')[0] ?? rinfo.address) : rinfo.address;
    const end = writeUdpHeader({ type: rinfo.family === 'IPv6' ? 'ipv6' : 'ipv4', host, port: rinfo.port }, 0, store, 0);
    this.#replyHeader = store.subarray(0, end);
    this.#replyHost = rinfo.address;
    this.#replyPort = rinfo.port;
  }
}

function startsWith(msg: Buffer, prefix: Buffer, length: number): boolean {
  for (let i = 0; i < length; i++) if (msg[i] !== prefix[i]) return false;
  return true;
}
