import { Reply, Socks4Reply } from '../codec/constants.ts';
import { CodecError } from '../codec/decoded.ts';
import { SocxError, errnoCode, socketErrorToReply, type ProxyReply } from '../errors.ts';

/**
 * The one mapping from a failure to the RFC 1928 §6 reply a client gets: our own deadlines (0x06), an
 * upstream proxy's refusal (its code, passed on), a malformed request (0x01, or 0x08 for an address type we
 * cannot read), a refusal by policy or limits (0x02) and socket errors by their errno code.
 *
 * Through an upstream (serve --upstream), only the last hop's answer about the target is passed on; a route
 * that is broken (a hop unreachable, a login it refuses, a hop that will not reach the next one, one that
 * does not speak SOCKS) is our server's failure: 0x01, not the 0x05 its ECONNREFUSED would say of a target.
 */
export function replyFor(error: unknown): number {
  if (error instanceof SocxError) {
    switch (error.code) {
      case 'timeout': return Reply.TTL_EXPIRED;
      // A hop that hung up right after a refusal code (`05 05`) has said no all the same. A hop before the
      // last refused to reach the next hop: its `05 05` is about our route, not the target.
      case 'request-rejected':
      case 'proxy-closed': return error.reply && !error.beforeLastHop ? upstreamReply(error.reply) : Reply.GENERAL_FAILURE;
      case 'not-allowed': return Reply.NOT_ALLOWED;
      default: break;
    }
    if (error.proxy !== undefined) return Reply.GENERAL_FAILURE;
    if (error.cause !== undefined) return replyFor(error.cause);
    return Reply.GENERAL_FAILURE;
  }
  if (error instanceof CodecError) return error.code === 'bad-address-type' ? Reply.ADDRESS_TYPE_NOT_SUPPORTED : Reply.GENERAL_FAILURE;
  return socketErrorToReply(errnoCode(error));
}

/** HTTP CONNECT refusals in SOCKS5 terms, as the common proxies use them: squid answers 503 when the target
 * refuses and 504 when it times out, tinyproxy 403 for a port its ConnectPort does not allow; a proxy without
 * CONNECT says 405 or 501. Any other status is a general failure (tinyproxy's 500 "Unable to connect" does
 * not say why). */
const HTTP_REPLIES: Readonly<Record<number, number>> = {
  403: Reply.NOT_ALLOWED,
  404: Reply.HOST_UNREACHABLE,
  405: Reply.COMMAND_NOT_SUPPORTED,
  451: Reply.NOT_ALLOWED,
  501: Reply.COMMAND_NOT_SUPPORTED,
  502: Reply.HOST_UNREACHABLE,
  503: Reply.CONNECTION_REFUSED,
  504: Reply.TTL_EXPIRED,
};

/** An upstream's refusal in SOCKS5 terms. SOCKS4's 0x5B ("rejected or failed") does not say which, so it is
 * a general failure; its identd refusals are refusals by the upstream's rules. */
function upstreamReply(reply: ProxyReply): number {
  if (reply.version === 'http') return HTTP_REPLIES[reply.code] ?? Reply.GENERAL_FAILURE;
  if (reply.version === 5) return reply.code;
  return reply.code === Socks4Reply.NO_IDENTD || reply.code === Socks4Reply.IDENTD_MISMATCH ? Reply.NOT_ALLOWED : Reply.GENERAL_FAILURE;
}
