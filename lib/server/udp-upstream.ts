import { Reply } from '../codec/constants.ts';
import { openUdpSession } from '../client/udp.ts';
import { describeError } from '../errors.ts';
import type { Verdict } from '../policy/policy.ts';
import { replyFor } from './reply-for.ts';
import type { DirectUdpRoute, UdpRoute, UdpUpstream } from './udp-association.ts';
import { throughOptions } from './upstream-dial.ts';
import { commandUnsupported, resolvesNames, routeOf, type Upstream, type Upstreams } from './upstreams.ts';
import type { CommandContext } from './types.ts';

/**
 * UDP ASSOCIATE at the upstream (lib/client's association), before ours is announced: its refusal is our
 * reply. Each datagram then goes where its rule routes it: through this upstream, direct (`via=direct`), or
 * nowhere (refused, or routed to another upstream, which one association cannot reach). Undefined when the
 * request was refused.
 */
export async function associateThrough(context: CommandContext, upstream: Upstream): Promise<UdpUpstream | undefined> {
  const { config, record } = context;
  const unsupported = commandUnsupported(upstream, 'udp');
  if (unsupported) {
    context.refuse(Reply.COMMAND_NOT_SUPPORTED, unsupported);
    return undefined;
  }
  record.upstream = upstream.name;
  let session;
  try {
    session = await openUdpSession(throughOptions(upstream, { timeoutMs: config.connectTimeoutMs, signal: context.signal, dial: config.dial, egress: config.egress }));
  } catch (error) {
    context.refuse(replyFor(error), `via ${upstream.name}: ${describeError(error)}`);
    return undefined;
  }
  context.debug(`UDP via ${upstream.name}: the upstream relays at ${session.relay.host} port ${session.relay.port}`);
  const routeOfVerdict = (verdict: Verdict): UdpRoute => verdict.allowed && routeOf(config.upstreams, verdict) === upstream ? 'upstream' : directUdpRoute(config.upstreams, verdict);
  return {
    session,
    route: (address, port, name) => routeOfVerdict(context.checkPolicy(address, name, port)),
    routeName: resolvesNames(upstream)
      ? (name, port) => {
        const verdict = context.checkName(name, port);
        return verdict === undefined ? undefined : routeOfVerdict(verdict);
      }
      : undefined,
  };
}

/** A datagram's route that does not go through the association's upstream: straight to its target
 * (`via=direct`, or no upstream for it), or dropped — refused by a rule, or routed to an upstream the
 * association does not go through (a direct one reaches none). */
export function directUdpRoute(upstreams: Upstreams | undefined, verdict: Verdict): DirectUdpRoute {
  if (!verdict.allowed) return 'rule';
  return routeOf(upstreams, verdict) === undefined ? 'direct' : 'route';
}
