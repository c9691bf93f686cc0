import type { Socket } from 'node:net';
import { isUnspecified, toAddress, type Address } from '../codec/address.ts';
import { Reply } from '../codec/constants.ts';
import { canonicalIp } from '../codec/ip.ts';
import { errnoCode, socketErrorText } from '../errors.ts';
import { closeAfterReply } from './close-after-reply.ts';
import { openUdpAssociation, type UdpAssociation, type UdpEndReason, type UdpUpstream } from './udp-association.ts';
import type { Resolve } from './udp-names.ts';
import type { CommandContext, CommandHandler, ServerConfig } from './types.ts';
import { associateThrough, directUdpRoute } from './udp-upstream.ts';
import { routeOf } from './upstreams.ts';

/** Open associations per client IP, per server (a config object belongs to one SocksServer). */
const openPerClient = new WeakMap<ServerConfig, Map<string, number>>();

function lease(config: ServerConfig, host: string): (() => void) | undefined {
  let counts = openPerClient.get(config);
  if (!counts) openPerClient.set(config, (counts = new Map()));
  const open = counts.get(host) ?? 0;
  if (config.maxUdpAssociationsPerClient > 0 && open >= config.maxUdpAssociationsPerClient) return undefined;
  counts.set(host, open + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (counts.get(host) ?? 1) - 1;
    if (left > 0) counts.set(host, left);
    else counts.delete(host);
  };
}

/** The association's one-address lookups, through the server's resolver (its deadline, its per-client cap). */
function resolverFor(config: ServerConfig, clientHost: string): Resolve {
  return (host, callback) => {
    const resolver = config.resolver;
    if (!resolver) return callback(Object.assign(new Error('no resolver'), { code: 'ENOTFOUND' }), '', 4);
    resolver.lookup(host, clientHost, (error, addresses) => {
      const first = addresses[0];
      if (error || !first) callback(error ?? Object.assign(new Error(`${host}: no address`), { code: 'ENOTFOUND' }), '', 4);
      else callback(null, first.address, first.family);
    });
  };
}

/** RFC 1928 §6: DST.ADDR/PORT of UDP ASSOCIATE is where the client will send from, zeros when it does not
 * know. We only ever take the port from it: the IP is always the TCP peer's (RFC 1928 §7 drops other source
 * IPs), so a request cannot point the relay at someone else's address. A name there (PySocks sends "0")
 * says nothing about the IP either. */
function expectedClientPort(requested: Address, clientHost: string, context: CommandContext): number {
  if (requested.type !== 'domain' && !isUnspecified(requested) && canonicalIp(requested.host) !== clientHost) {
    context.debug(`UDP ASSOCIATE names ${requested.host}, not the connection's ${clientHost}: datagrams are taken from ${clientHost} only`);
  }
  return requested.port;
}

const endText: Readonly<Record<UdpEndReason, string>> = {
  'control-closed': 'ok',
  'idle-timeout': 'ok, ended: idle-timeout',
  'socket-error': 'ok, ended: UDP socket error',
  shutdown: 'ok, ended: server shutdown',
  'upstream-closed': 'ok, ended: the upstream ended its association',
};

/** UDP ASSOCIATE (RFC 1928 §4, §6, §7): a relay socket on the interface the client connected to, announced in
 * the reply (or `advertise` behind NAT). The association lives as long as the TCP connection, or until it
 * has been idle for `udpIdleTimeoutMs`. */
export const udpCommand: CommandHandler = async (context) => {
  const { config, request, socket } = context;
  if (request.version !== 5) return context.refuse(Reply.COMMAND_NOT_SUPPORTED, 'UDP ASSOCIATE needs SOCKS5');
  const clientHost = canonicalIp(context.client.host);
  const release = lease(config, clientHost);
  if (!release) return context.refuse(Reply.NOT_ALLOWED, `${clientHost} has ${config.maxUdpAssociationsPerClient} UDP associations open already`);
  try {
    // Gone already (the address is unknown once the socket is destroyed): nothing to bind on.
    if (!socket.localAddress) return context.refuse(Reply.GENERAL_FAILURE, 'the client connection closed');
    const localHost = canonicalIp(socket.localAddress);
    const upstream = routeOf(config.upstreams, undefined);
    let through: UdpUpstream | undefined;
    if (upstream) {
      const opened = await associateThrough(context, upstream);
      if (opened === undefined) return;
      through = opened;
    }
    let association: UdpAssociation;
    try {
      association = await openUdpAssociation({
        clientHost,
        clientPort: expectedClientPort(request.address, clientHost, context),
        localHost,
        portRange: config.udpPortRange,
        idleTimeoutMs: config.udpIdleTimeoutMs,
        resolve: resolverFor(config, clientHost),
        route: (address, port, name) => directUdpRoute(config.upstreams, context.checkPolicy(address, name, port)),
        egress: config.egress,
        upstream: through,
        debug: context.debug,
      });
    } catch (error) {
      through?.session.close('our relay socket could not be opened');
      return context.refuse(Reply.GENERAL_FAILURE, `cannot open a UDP relay socket on ${localHost}: ${socketErrorText(errnoCode(error))}`);
    }
    const bound = toAddress(config.advertise ?? localHost, association.port);
    context.debug(`UDP relay on ${localHost} port ${association.port}${config.advertise ? `, announced as ${config.advertise}` : ''}`);
    context.reply(Reply.SUCCEEDED, bound);
    context.record.udp = association.counters;
    const reason = await untilControlEnds(context, socket, association);
    const { record } = context;
    record.ok = true;
    record.bytesUp = association.counters.bytesUp;
    record.bytesDown = association.counters.bytesDown;
    record.result = endText[reason];
  } finally {
    release();
  }
};

/** The control connection carries nothing more (RFC 1928 §7): read and discard, and end the association the
 * moment it ends or fails; end the connection when the association ends first (idle timeout). */
async function untilControlEnds(context: CommandContext, socket: Socket, association: UdpAssociation): Promise<UdpEndReason> {
  const onEnd = (): void => association.close('control-closed');
  const onAbort = (): void => association.close(socket.destroyed ? 'control-closed' : 'shutdown');
  const discard = (): void => {};
  socket.on('data', discard);
  socket.once('end', onEnd);
  socket.once('close', onEnd);
  socket.on('error', onEnd);
  context.signal.addEventListener('abort', onAbort, { once: true });
  if (socket.destroyed || socket.readableEnded) onEnd();
  else if (context.signal.aborted) onAbort();
  socket.resume();
  const reason = await association.ended;
  socket.off('data', discard);
  socket.off('end', onEnd);
  socket.off('close', onEnd);
  socket.off('error', onEnd);
  context.signal.removeEventListener('abort', onAbort);
  if (reason === 'control-closed') socket.destroy();
  else closeAfterReply(socket, undefined);
  return reason;
}
