import type { Address } from '../codec/address.ts';
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
 * one proxy client (lib/client's chain). The session's BND address is the last hop's; its `head` the bytes
 * that came behind the reply.
 */
export function openThrough(upstream: Upstream, command: CommandName, target: Address, options: ThroughOptions): Promise<ProxySession> {
  return openSession(command, target, throughOptions(upstream, options));
}

/** The client options that reach the upstream's last hop (for lib/client's BIND and UDP calls too). */
export function throughOptions(upstream: Upstream, options: ThroughOptions): ClientOptions {
  const { hops } = upstream;
  return {
    proxy: lastHop(upstream),
    via: hops.length > 1 ? hops.slice(0, -1) : undefined,
    timeoutMs: options.timeoutMs,
    ...(options.signal ? { signal: options.signal } : {}),
    dial: firstHopDial(options),
  };
}

/** The first hop over the server's own dial; bytes it sent unasked go back into the socket for the client. */
function firstHopDial(options: ThroughOptions): Dial {
  return (host, port, { timeoutMs, signal }) => options.dial(host, port, { timeoutMs, signal, localAddress: egressFor(options.egress, host) })
    .then(({ socket, head }) => {
      if (head && head.length > 0) socket.unshift(head);
      return socket;
    });
}
