import type { Socket } from 'node:net';
import { formatAddress, toAddress, type Address } from '../codec/address.ts';
import { SocxError } from '../errors.ts';
import { namesNoAddress, openSession, readSecondReply, type ClientOptions, type ProxySession } from './client.ts';
import { describeProxy } from './proxy-url.ts';

/** A BIND the proxy has granted (its first reply): it listens at `address` for the peer. */
export interface PendingBind {
  readonly session: ProxySession;
  /** Where the peer must connect. */
  readonly address: Address;
}

/** The peer that connected to the proxy (the second reply), and the connection now relayed to it. */
export interface BoundPeer {
  readonly socket: Socket;
  readonly peer: Address;
  /** Bytes the peer sent right behind the second reply; the socket is paused. */
  readonly head: Buffer;
}

/** Asks the proxy to accept one connection from `peer` (all zeros: from anyone) — RFC 1928 §4 BIND. */
export async function requestBind(peer: Address, options: ClientOptions): Promise<PendingBind> {
  const session = await openSession('bind', peer, options);
  return { session, address: reachableAddress(session.bound, options) };
}

/** No peer can connect to port 0: waiting out the deadline would only hide that the proxy is not listening.
 * Closes the BIND and throws a 'protocol' error then. (Separate from requestBind so that probe can still
 * report what such a proxy announced.) */
export function requireConnectablePort(pending: PendingBind, { proxy }: ClientOptions): void {
  if (pending.address.port !== 0) return;
  pending.session.socket.destroy();
  throw new SocxError('protocol', `${describeProxy(proxy)} granted the BIND but announced port 0, where no peer can connect`, { phase: 'request', proxy: describeProxy(proxy) });
}

/** Waits up to `waitMs` for the proxy's second reply; no peer by then is a 'timeout' error. */
export async function acceptPeer(pending: PendingBind, options: ClientOptions, waitMs: number): Promise<BoundPeer> {
  try {
    const { peer, head } = await readSecondReply(pending.session, { ...options, timeoutMs: waitMs });
    return { socket: pending.session.socket, peer, head };
  } catch (error) {
    throw explainWaitFailure(error, pending.address, waitMs);
  }
}

/** The reader's messages speak of "the proxy" and "the second reply"; a user waits for a peer at an address. */
function explainWaitFailure(error: unknown, address: Address, waitMs: number): unknown {
  if (!(error instanceof SocxError)) return error;
  const where = formatAddress(address);
  const details = { phase: error.phase, proxy: error.proxy, cause: error };
  if (error.code === 'timeout') return new SocxError('timeout', `no peer connected to ${where} within ${waitMs / 1000} s`, details);
  if (error.code === 'proxy-closed' && !error.reply) return new SocxError('proxy-closed', `the proxy closed the connection while waiting for a peer at ${where}`, details);
  return error;
}

/** A proxy listening on all its addresses answers 0.0.0.0 or :: (or an empty name); the peer reaches it where
 * we did (the SOCKS4 paper says as much: "replace it with the SOCKS server's address"). */
function reachableAddress(bound: Address, { proxy }: ClientOptions): Address {
  return namesNoAddress(bound) ? toAddress(proxy.host, bound.port) : bound;
}
