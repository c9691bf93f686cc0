import { isIPv4, type Server } from 'node:net';
import { formatAddress, isUnspecified, toAddress } from '../codec/address.ts';
import { Reply } from '../codec/constants.ts';
import { canonicalIp } from '../codec/ip.ts';
import { errnoCode, socketErrorText, socketErrorToReply } from '../errors.ts';
import type { Verdict } from '../policy/policy.ts';
import { bindThrough } from './bind-upstream.ts';
import { admitPeer, endWithout } from './bind-peer.ts';
import { listenerSource, listenOnce, listeningPort, waitForPeer } from './bind-wait.ts';
import { routeOf } from './upstreams.ts';
import { egressFor } from '../dial.ts';
import type { CommandContext, CommandHandler } from './types.ts';

/**
 * BIND (RFC 1928 §4 and §6; SOCKS4's BIND likewise): listen on a fresh port, announce it in the first reply,
 * accept one connection, name its source in the second reply, then relay it with the client. The listening
 * socket sits on the local address of the client's connection, the one address the client knows reaches us;
 * `advertise` replaces it in the reply when we sit behind NAT.
 */
export const bindCommand: CommandHandler = async (context) => {
  const { socket, request, config } = context;
  const clientFacing = socket.localAddress;
  if (clientFacing === undefined) return context.refuse(Reply.GENERAL_FAILURE, 'the client connection has no local address');
  // serve --egress: the peer comes from outside, so it is met on the outgoing address of the family.
  const localHost = egressFor(config.egress, clientFacing) ?? clientFacing;
  const announcedHost = canonicalIp(config.advertise ?? localHost);
  // SOCKS4's reply carries an IPv4 address only: an IPv6 one cannot be announced.
  if (request.version === 4 && !isIPv4(announcedHost)) {
    return context.refuse(Reply.ADDRESS_TYPE_NOT_SUPPORTED, `SOCKS4 BIND cannot announce the IPv6 address ${announcedHost}`);
  }
  const expected = await expectedPeer(context).catch(() => null);
  if (expected === null) return context.refuse(Reply.HOST_UNREACHABLE, `cannot resolve ${request.address.host}`);
  // The expected peer is a destination like any other: a rule may refuse it before anything listens.
  let first: Verdict | undefined;
  for (const ip of expected ?? []) {
    const verdict = context.checkPolicy(ip, request.address.type === 'domain' ? request.address.host : undefined, request.address.port);
    if (!verdict.allowed) return context.refuse(Reply.NOT_ALLOWED, `rule: ${verdict.rule}`);
    first ??= verdict;
  }
  const upstream = routeOf(config.upstreams, first);
  if (upstream !== undefined) return bindThrough(context, upstream, expected);

  let listener: Server;
  try {
    listener = await listenOnce(localHost);
  } catch (error) {
    return context.refuse(socketErrorToReply(errnoCode(error)), `cannot listen on ${localHost}: ${socketErrorText(errnoCode(error))}`);
  }
  // Bytes the client pipelined behind its request belong to the peer; the wait reads the rest itself (to see
  // the client's EOF), so the handshake reader lets go of the socket here.
  const { head } = context;
  const bound = toAddress(announcedHost, listeningPort(listener));
  context.reply(Reply.SUCCEEDED, bound);
  context.debug(`BIND listening on ${formatAddress({ host: localHost, port: bound.port })}, waiting ${config.bindTimeoutMs} ms for a peer`);

  const outcome = await waitForPeer(listenerSource(listener), socket, { timeoutMs: config.bindTimeoutMs, signal: context.signal });
  if (outcome.kind !== 'peer') return endWithout(context, outcome);
  const { peer } = outcome;
  const from = toAddress(canonicalIp(peer.remoteAddress ?? '0.0.0.0'), peer.remotePort ?? 0);
  if (!admitPeer(context, expected, peer, from)) return;
  await context.relay(peer, Buffer.concat([head, outcome.early]));
};

/** The IPs a peer may connect from: DST.ADDR (its name resolved by the server's resolver), or any
 * (undefined) when DST.ADDR is all zeros. DST.PORT is not checked: the peer's source port is its system's
 * choice. */
function expectedPeer(context: CommandContext): Promise<ReadonlySet<string> | undefined> {
  const { address } = context.request;
  if (isUnspecified(address)) return Promise.resolve(undefined);
  if (address.type !== 'domain') return Promise.resolve(new Set([canonicalIp(address.host)]));
  const resolver = context.config.resolver;
  if (!resolver) return Promise.reject(new Error('no resolver'));
  return new Promise((resolve, reject) => {
    resolver.lookup(address.host, context.client.host, (error, addresses) => {
      if (error) reject(error);
      else resolve(new Set(addresses.map((entry) => canonicalIp(entry.address))));
    });
  });
}
