import { Reply, replyName } from '../codec/constants.ts';
import { encodeHttpResponseHead, type HttpHeader } from '../codec/http-head.ts';
import type { Outcome } from './types.ts';

/** RFC 9110 §15 reason phrases of the statuses the proxy sends itself. */
const REASONS: Readonly<Record<number, string>> = {
  200: 'Connection established',
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** By the RFC 1928 reply that replyFor chose: a rule's refusal is 403; a target that refused, could not be
 * reached or whose name did not resolve is 502 (RFC 9110 §15.6.3, as nginx and Go's reverse proxy answer);
 * a deadline is 504 (§15.6.5). */
const STATUS_BY_REPLY: Readonly<Record<number, number>> = {
  [Reply.GENERAL_FAILURE]: 502,
  [Reply.NOT_ALLOWED]: 403,
  [Reply.NETWORK_UNREACHABLE]: 502,
  [Reply.HOST_UNREACHABLE]: 502,
  [Reply.CONNECTION_REFUSED]: 502,
  [Reply.TTL_EXPIRED]: 504,
  [Reply.COMMAND_NOT_SUPPORTED]: 501,
  [Reply.ADDRESS_TYPE_NOT_SUPPORTED]: 400,
};

/** The outcomes that say more than the reply code: a lookup that ran out of time is 0x04 for SOCKS but a
 * timeout all the same; too many lookups in flight is the proxy's own overload. */
const STATUS_BY_OUTCOME: Partial<Readonly<Record<Outcome, number>>> = {
  'timeout': 504,
  'limit': 503,
  'bad-request': 400,
  'refused-auth': 407,
};

/** The one mapping from a failure (its SOCKS reply and outcome, as the session records them) to the status
 * an HTTP client gets. */
export function httpStatusFor(reply: number, outcome: Outcome): number {
  return STATUS_BY_OUTCOME[outcome] ?? STATUS_BY_REPLY[reply] ?? 502;
}

export const PROXY_AUTHENTICATE: HttpHeader = { name: 'Proxy-Authenticate', value: 'Basic realm="socx"' };

/** The tunnel is open (RFC 9110 §9.3.6: no Content-Length or Transfer-Encoding in a 2xx to CONNECT). */
export function encodeHttpConnected(): Buffer {
  return encodeHttpResponseHead({ status: 200, reason: REASONS[200] ?? '', headers: [] });
}

/** A refusal, and the connection closes after it. The body is fixed text, never anything the client sent. */
export function encodeHttpError(status: number, detail: string, headers: readonly HttpHeader[] = []): Buffer {
  const reason = REASONS[status] ?? 'Error';
  const body = Buffer.from(`socx: ${detail}\n`, 'latin1');
  const head = encodeHttpResponseHead({
    status,
    reason,
    headers: [
      ...headers,
      { name: 'Content-Type', value: 'text/plain' },
      { name: 'Content-Length', value: String(body.length) },
      { name: 'Connection', value: 'close' },
    ],
  });
  return Buffer.concat([head, body]);
}

/** The refusal for a failed request, by the one mapping above; the body is the reply's RFC wording. */
export function encodeHttpFailure(reply: number, outcome: Outcome): Buffer {
  const status = httpStatusFor(reply, outcome);
  return encodeHttpError(status, status === 504 ? 'timed out' : replyName(reply), status === 407 ? [PROXY_AUTHENTICATE] : []);
}
