import type { Socket } from 'node:net';
import { isUnspecified, type Address } from '../codec/address.ts';
import type { CommandName } from '../codec/constants.ts';
import { decodeSocks4Reply } from '../codec/socks4.ts';
import { decodeReply } from '../codec/socks5.ts';
import type { Dial } from '../dial.ts';
import { usageError } from '../errors.ts';
import { MessageReader } from '../message-reader.ts';
import type { Resolver } from '../resolver/types.ts';
import { runChain } from './chain.ts';
import { asClientError, bound } from './exchange.ts';
import { hopName, hopsOf, type Trace } from './hop.ts';
import { describeProxy, type ProxyConfig, type SocksProxy } from './proxy-url.ts';
import { checkSocks4Reply, checkSocks5Reply } from './socks-handshake.ts';

export type { Trace } from './hop.ts';

export interface ClientOptions {
  /** The proxy that carries out the command: the only one, or the last hop of a chain. */
  readonly proxy: ProxyConfig;
  /** The hops before `proxy`, first first: the client dials via[0], each hop CONNECTs to the next. */
  readonly via?: readonly ProxyConfig[] | undefined;
  /** Bound on reaching the proxy and on each handshake exchange (each hop's). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** How the first hop is dialed. */
  readonly dial?: Dial;
  /** Resolves names for socks5:// and socks4:// (and a UDP relay's name); default: the system's. */
  readonly resolver?: Resolver;
  /** Gets one line per handshake message sent or received (`-v`); never a password. */
  readonly trace?: Trace | undefined;
}

/** A connection through which the proxy has granted a request. */
export interface ProxySession {
  readonly socket: Socket;
  /** BND.ADDR/PORT of the (first) reply; for an HTTP proxy, which names none, the target itself. */
  readonly bound: Address;
  /** Bytes that came right behind the reply: they belong to the next stage and must be delivered first. The
   * socket is paused. */
  readonly head: Buffer;
}

/** `proxies` (first hop first) as ClientOptions' `proxy` and `via`. */
export function chainOptions(proxies: readonly ProxyConfig[]): Pick<ClientOptions, 'proxy' | 'via'> {
  const proxy = proxies.at(-1);
  if (!proxy) throw usageError('no proxy given');
  return proxies.length === 1 ? { proxy } : { proxy, via: proxies.slice(0, -1) };
}

/** Opens a connection to the proxy (through `via`, when given) and has it carry out one command for
 * `target`. */
export async function openSession(command: CommandName, target: Address, options: ClientOptions): Promise<ProxySession> {
  const reason = unsupportedCommand(command, options.proxy);
  if (reason !== undefined) throw usageError(reason);
  return runChain([...(options.via ?? []), options.proxy], command, target, options);
}

/** Why `proxy` cannot carry out `command`, or undefined when it can. */
export function unsupportedCommand(command: CommandName, proxy: ProxyConfig): string | undefined {
  if (command === 'connect') return undefined;
  const what = command === 'udp' ? 'UDP ASSOCIATE' : 'BIND';
  if (proxy.kind === 'http') return `${what} needs a SOCKS proxy: an HTTP proxy (${describeProxy(proxy)}) only tunnels TCP connections (CONNECT)`;
  if (command === 'udp' && proxy.version === 4) return 'UDP ASSOCIATE needs SOCKS5: use a socks5:// or socks5h:// proxy URL';
  return undefined;
}

/** The usage error UDP ASSOCIATE gives for anything but a SOCKS5 proxy. */
export function requireSocks5ForUdp(proxy: ProxyConfig): asserts proxy is SocksProxy {
  const reason = unsupportedCommand('udp', proxy);
  if (reason !== undefined) throw usageError(reason);
}

/** BIND's second reply (RFC 1928 §4): the address of the peer that connected, and the bytes behind it.
 * Waits up to `timeoutMs`. */
export async function readSecondReply(session: ProxySession, options: ClientOptions): Promise<{ peer: Address; head: Buffer }> {
  const proxies = [...(options.via ?? []), options.proxy];
  const hop = hopsOf(proxies, options.trace).at(-1)!;
  const { proxy } = options;
  const reader = new MessageReader(session.socket, { peer: hopName(hop, 'proxy'), maxBytes: 1024, initial: session.head });
  const stopWaiting = bound(reader, hop, options);
  try {
    if (proxy.kind !== 'socks') throw usageError(unsupportedCommand('bind', proxy) ?? 'BIND needs a SOCKS proxy');
    const peer = proxy.version === 5
      ? checkSocks5Reply(await reader.read(decodeReply, 'second-reply'), 'second-reply', hop)
      : checkSocks4Reply(await reader.read(decodeSocks4Reply, 'second-reply'), 'second-reply', hop);
    return { peer, head: reader.release() };
  } catch (error) {
    const received = reader.release();
    session.socket.destroy();
    throw asClientError(error, hop, received);
  } finally {
    stopWaiting();
  }
}

/** BND.ADDR that names no address: all zeros (RFC 1928 §6), or an empty name, which some servers send.
 * Either way the proxy means "where you reached me". */
export function namesNoAddress(bound: Address): boolean {
  return bound.type === 'domain' ? bound.host === '' : isUnspecified(bound);
}
