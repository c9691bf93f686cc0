import { formatAddress } from '../codec/address.ts';
import { Reply } from '../codec/constants.ts';
import { canonicalIp } from '../codec/ip.ts';
import { acceptPeer, requestBind, type BoundPeer, type PendingBind } from '../client/bind.ts';
import type { ClientOptions } from '../client/client.ts';
import { describeError } from '../errors.ts';
import { admitPeer, endWithout } from './bind-peer.ts';
import { waitForPeer, type PeerSource } from './bind-wait.ts';
import { replyFor } from './reply-for.ts';
import { throughOptions } from './upstream-dial.ts';
import { commandUnsupported, type Upstream } from './upstreams.ts';
import type { CommandContext } from './types.ts';

/**
 * BIND through an upstream: the last hop listens for the peer (lib/client's BIND), its first reply's address
 * is the one our client gets (the peer must connect there, not here), and its second reply names the peer,
 * which is checked as a peer of our own would be.
 */
export async function bindThrough(context: CommandContext, upstream: Upstream, expected: ReadonlySet<string> | undefined): Promise<void> {
  const { config, record, request, socket } = context;
  record.upstream = upstream.name;
  const unsupported = commandUnsupported(upstream, 'bind');
  if (unsupported !== undefined) return context.refuse(Reply.COMMAND_NOT_SUPPORTED, unsupported);
  const options = throughOptions(upstream, { timeoutMs: config.connectTimeoutMs, signal: context.signal, dial: config.dial, egress: config.egress });
  let pending: PendingBind;
  try {
    pending = await requestBind(request.address, options);
  } catch (error) {
    return context.refuse(replyFor(error), `via ${upstream.name}: ${describeError(error)}`);
  }
  const bound = pending.address;
  if (request.version === 4 && bound.type !== 'ipv4') {
    pending.session.socket.destroy();
    return context.refuse(Reply.ADDRESS_TYPE_NOT_SUPPORTED, `SOCKS4 BIND cannot announce the upstream's ${formatAddress(bound)}`);
  }
  context.reply(Reply.SUCCEEDED, bound);
  context.debug(`BIND via ${upstream.name}: the upstream listens on ${formatAddress(bound)}, waiting ${config.bindTimeoutMs} ms for a peer`);
  const outcome = await waitForPeer(upstreamSource(pending, options, config.bindTimeoutMs), socket, { timeoutMs: config.bindTimeoutMs, signal: context.signal });
  if (outcome.kind !== 'peer') return endWithout(context, outcome);
  const { socket: relayed, peer, head } = outcome.peer;
  const from = peer.type === 'domain' ? peer : { ...peer, host: canonicalIp(peer.host) };
  if (!admitPeer(context, expected, relayed, from)) return;
  await context.relay(relayed, Buffer.concat([context.head, outcome.early]), head);
}

/** The upstream's second reply as BIND's source of a peer; a wait that ends without one closes the BIND. */
function upstreamSource(pending: PendingBind, options: ClientOptions, waitMs: number): PeerSource<BoundPeer> {
  let arrived = false;
  let stopped = false;
  return {
    start(onPeer, onError) {
      // Our own timer ends the wait; the client library's is only a backstop.
      acceptPeer(pending, options, waitMs + 1000).then((peer) => {
        arrived = !stopped;
        if (stopped) peer.socket.destroy();
        else onPeer(peer);
      }, (error: unknown) => {
        if (!stopped) onError(error);
      });
    },
    stop() {
      stopped = true;
      if (!arrived) pending.session.socket.destroy();
    },
  };
}
