import dgram, { type Socket as UdpSocket, type SocketType } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { formatAddress, isUnspecified, toAddress, type Address } from '../codec/address.ts';
import { CodecError } from '../codec/decoded.ts';
import { canonicalIp } from '../codec/ip.ts';
import { decodeUdpDatagram, encodeUdpHeader, MAX_UDP_PAYLOAD_IPV4, udpHeaderLength } from '../codec/socks5.ts';
import { SocxError, errnoCode, socketErrorText, usageError } from '../errors.ts';
import { namesNoAddress, openSession, requireSocks5ForUdp, type ClientOptions, type ProxySession } from './client.ts';
import { describeProxy } from './proxy-url.ts';
import { lookupWithin, resolveLocally } from './resolve.ts';

export interface UdpSessionOptions extends ClientOptions {
  /** Send from this local address and announce it in the request. Default: a free port on the address the
   * control connection uses, announced as 0.0.0.0:0 (RFC 1928 §6 allows zeros when the client cannot know
   * its address, e.g. behind NAT; the proxy then latches on to the first datagram). */
  readonly local?: { readonly host: string; readonly port: number } | undefined;
}

export type DatagramListener = (payload: Buffer, from: Address) => void;

const ZERO: Address = { type: 'ipv4', host: '0.0.0.0', port: 0 };

/** The largest payload one datagram to `target` can carry through a SOCKS5 relay: the largest UDP payload
 * over IPv4 less the RFC 1928 §7 header (10 bytes for an IPv4 target, 22 for IPv6, 7 + name for a name). */
export function maxUdpPayload(target: Address): number {
  return MAX_UDP_PAYLOAD_IPV4 - udpHeaderLength(target);
}

/** A UDP ASSOCIATE: a local UDP socket connected to the proxy's relay, and the TCP connection that keeps the
 * association alive (RFC 1928 §7: it ends when that connection does). */
export class UdpSession {
  /** BND.ADDR/PORT as the proxy replied. */
  readonly bound: Address;
  /** Where datagrams go: BND, or the proxy's own address when BND.ADDR was all zeros. */
  readonly relay: { readonly host: string; readonly port: number };
  /** What was announced in the request (DST.ADDR/PORT). */
  readonly announced: Address;
  readonly closed: Promise<string>;
  /** Datagrams from the relay that were not a valid unfragmented RFC 1928 §7 datagram. */
  dropped = 0;
  readonly #control: ProxySession;
  readonly #udp: UdpSocket;
  #listener: DatagramListener | undefined;
  #closeReason: string | undefined;
  #finish!: (reason: string) => void;
  #lastTarget: Address | undefined;
  #lastHeader: Buffer = Buffer.alloc(0);

  constructor(control: ProxySession, udp: UdpSocket, relay: { host: string; port: number }, announced: Address) {
    this.#control = control;
    this.#udp = udp;
    this.bound = control.bound;
    this.relay = relay;
    this.announced = announced;
    this.closed = new Promise((resolve) => { this.#finish = resolve; });
    udp.on('message', this.#onMessage);
    udp.on('error', (error) => this.close(`the UDP relay at ${formatAddress(relay)} is not reachable: ${socketErrorText(errnoCode(error))}`));
    const socket = control.socket;
    const ended = (): void => this.close('the proxy closed the control connection, which ends the UDP association');
    socket.on('data', () => {});
    socket.once('end', ended);
    socket.once('close', ended);
    socket.on('error', ended);
    socket.resume();
  }

  /** The local address datagrams are sent from. */
  get local(): { host: string; port: number } {
    const { address, port } = this.#udp.address();
    return { host: address, port };
  }

  /** Bytes of datagrams sent but still queued, not yet taken by the kernel (dgram's getSendQueueSize). */
  getSendQueueSize(): number {
    return this.#udp.getSendQueueSize();
  }

  /** Why the session ended, once it has. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /** Each reply's payload and the address it came from (the header's, i.e. the target's). */
  onDatagram(listener: DatagramListener): void {
    this.#listener = listener;
  }

  /** Wraps `payload` in the RFC 1928 §7 header for `target` and sends it to the relay. Throws a usage error
   * when it cannot fit one datagram. The callback runs once the datagram has left (or failed). */
  send(target: Address, payload: Uint8Array, callback?: (error: Error | null) => void): void {
    if (this.#closeReason !== undefined) throw new SocxError('proxy-closed', this.#closeReason, { phase: 'udp' });
    const max = maxUdpPayload(target);
    if (payload.length > max) {
      throw usageError(`a ${payload.length}-byte payload does not fit one SOCKS5 UDP datagram to ${formatAddress(target)}: at most ${max} bytes (${MAX_UDP_PAYLOAD_IPV4} less the ${udpHeaderLength(target)}-byte RFC 1928 header)`);
    }
    if (this.#lastTarget !== target) {
      // A new buffer per target, never rewritten: a queued send may still be reading the old one.
      this.#lastHeader = encodeUdpHeader(target);
      this.#lastTarget = target;
    }
    this.#udp.send([this.#lastHeader, payload], callback);
  }

  /** Ends the association: the UDP socket and the control connection. */
  close(reason = 'closed'): void {
    if (this.#closeReason !== undefined) return;
    this.#closeReason = reason;
    try {
      this.#udp.close();
    } catch {
      // already closed
    }
    this.#control.socket.destroy();
    this.#finish(reason);
  }

  readonly #onMessage = (msg: Buffer): void => {
    let decoded;
    try {
      decoded = decodeUdpDatagram(msg);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
    }
    if (!decoded?.done || decoded.value.frag !== 0) {
      this.dropped++;
      return;
    }
    this.#listener?.(msg.subarray(msg.length - decoded.value.payload.length), decoded.value.address);
  };
}

/** socks5:// means we resolve names in datagrams ourselves, as for CONNECT; socks5h:// leaves them to the
 * proxy (RFC 1928 §7 allows a name in the header). */
export async function resolveUdpTarget(target: Address, options: ClientOptions): Promise<Address> {
  requireSocks5ForUdp(options.proxy);
  return resolveLocally(target, options.proxy, options);
}

/** Sends UDP ASSOCIATE and sets up the local socket. */
export async function openUdpSession(options: UdpSessionOptions): Promise<UdpSession> {
  let udp = options.local ? await bindUdp(options.local.host, options.local.port) : undefined;
  try {
    const announced = udp && options.local ? announcedAddress(options.local.host, udp) : ZERO;
    const control = await openSession('udp', announced, options);
    try {
      const relay = await relayAddress(control, options);
      if (!udp) {
        const local = canonicalIp(control.socket.localAddress ?? '');
        udp = await bindUdp(isIPv6(local) === isIPv6(relay.host) ? local : isIPv6(relay.host) ? '::' : '0.0.0.0', 0);
      } else if ((udp.address().family === 'IPv6') !== isIPv6(relay.host)) {
        throw usageError(`--local ${options.local?.host ?? ''} is not of the same IP version as the relay ${formatAddress(relay)}`);
      }
      await connectUdp(udp, relay);
      return new UdpSession(control, udp, relay, announced);
    } catch (error) {
      control.socket.destroy();
      throw error;
    }
  } catch (error) {
    udp?.close();
    throw error;
  }
}

function announcedAddress(host: string, udp: UdpSocket): Address {
  const port = udp.address().port;
  const address = toAddress(host, port);
  return address.type === 'domain' || isUnspecified(address) ? { ...ZERO, port } : address;
}

/** BND.ADDR of all zeros means "the address you reached me on" (common behind NAT and with wildcard
 * listeners); a name in BND.ADDR is resolved here. */
async function relayAddress(control: ProxySession, options: ClientOptions): Promise<{ host: string; port: number }> {
  const { bound } = control;
  if (bound.port === 0) {
    throw new SocxError('protocol', `${describeProxy(options.proxy)} announced a UDP relay on port 0`, { phase: 'request' });
  }
  // Through a chain the control connection's peer is the first hop, not the one that owns the relay.
  const reached = options.via?.length ? undefined : control.socket.remoteAddress;
  if (namesNoAddress(bound)) return { host: canonicalIp(reached ?? options.proxy.host), port: bound.port };
  if (bound.type !== 'domain') return { host: canonicalIp(bound.host), port: bound.port };
  try {
    return { host: (await lookupWithin(bound.host, 0, options)).address, port: bound.port };
  } catch (error) {
    if (error instanceof SocxError) throw error;
    throw new SocxError('network', `Cannot resolve the UDP relay's name ${bound.host}: ${socketErrorText(errnoCode(error))}`, { phase: 'udp', cause: error });
  }
}

async function bindUdp(host: string, port: number): Promise<UdpSocket> {
  const type: SocketType = isIPv6(host) ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: host, port }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    socket.close();
    throw new SocxError('network', `Cannot bind a UDP socket on ${formatAddress({ host, port })}: ${socketErrorText(errnoCode(error))}`, { phase: 'udp', cause: error });
  }
  return socket;
}

/** A connected socket: the kernel drops datagrams from anyone but the relay, and a closed relay port shows
 * up as an error instead of silence. */
function connectUdp(socket: UdpSocket, relay: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(new SocxError('network', `Cannot reach the UDP relay at ${formatAddress(relay)}: ${socketErrorText(errnoCode(error))}`, { phase: 'udp', cause: error }));
    };
    socket.once('error', onError);
    socket.connect(relay.port, relay.host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}
