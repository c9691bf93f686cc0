import { toAddress, type Address } from '../codec/address.ts';
import type { CommandName } from '../codec/constants.ts';
import { openSession, type ClientOptions, type ProxySession } from '../client/client.ts';
import { egressFor, type Dial, type Egress, type UpstreamDial } from '../dial.ts';
import { lastHop, type Upstream } from './upstreams.ts';

export interface ThroughOptions {
  /** Bound on reaching each hop and on each handshake exchange (the session's sweep bounds the whole). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** The server's dial (config.dial): it opens the TCP connection to the first hop, from --egress. */
  readonly dial: UpstreamDial;
  readonly egress: Egress | undefined;
}

/**
 * Has the upstream's last hop carry out `command` for `target`, reached through the hops before it, with the
 * one SOCKS client (lib/client). The session's BND address is the last hop's; its `head` the bytes that came
 * behind the reply.
 */
export function openThrough(upstream: Upstream, command: CommandName, target: Address, options: ThroughOptions): Promise<ProxySession> {
  return openSession(command, target, throughOptions(upstream, options));
}

/** The client options that reach the upstream's last hop (for lib/client's BIND and UDP calls). */
export function throughOptions(upstream: Upstream, options: ThroughOptions): ClientOptions {
  const last = upstream.hops.length - 1;
  return { proxy: lastHop(upstream), timeoutMs: options.timeoutMs, signal: options.signal, dial: hopDial(upstream, last, options) };
}

/** How hop `index` is reached: the first over TCP, each other one through a CONNECT of the hops before. */
function hopDial(upstream: Upstream, index: number, options: ThroughOptions): Dial {
  if (index === 0) {
    return (host, port, { timeoutMs, signal }) => options.dial(host, port, { timeoutMs, signal, localAddress: egressFor(options.egress, host) })
      .then(({ socket, head }) => {
        if (head && head.length > 0) socket.unshift(head);
        return socket;
      });
  }
  const previous = upstream.hops[index - 1] ?? upstream.hops[0];
  return (host, port, { timeoutMs, signal }) => openSession('connect', toAddress(host, port), { proxy: previous, timeoutMs, signal, dial: hopDial(upstream, index - 1, options) })
    .then(({ socket, head }) => {
      if (head.length > 0) socket.unshift(head);
      return socket;
    });
}
