import { Reply } from '../codec/constants.ts';
import { CodecError } from '../codec/decoded.ts';
import { SocxError, errnoCode, socketErrorToReply } from '../errors.ts';

/**
 * The one mapping from a failure to the RFC 1928 §6 reply a client gets: our own deadlines (0x06), an
 * upstream proxy's refusal (its code, passed on), a malformed request (0x01, or 0x08 for an address type we
 * cannot read), a refusal by policy or limits (0x02) and socket errors by their errno code.
 */
export function replyFor(error: unknown): number {
  if (error instanceof SocxError) {
    switch (error.code) {
      case 'timeout': return Reply.TTL_EXPIRED;
      case 'request-rejected': return error.reply?.version === 5 ? error.reply.code : Reply.GENERAL_FAILURE;
      case 'not-allowed': return Reply.NOT_ALLOWED;
      default: break;
    }
    if (error.cause !== undefined) return replyFor(error.cause);
    return Reply.GENERAL_FAILURE;
  }
  if (error instanceof CodecError) return error.code === 'bad-address-type' ? Reply.ADDRESS_TYPE_NOT_SUPPORTED : Reply.GENERAL_FAILURE;
  return socketErrorToReply(errnoCode(error));
}
