import { Reply } from '../codec/constants.ts';
import { CodecError } from '../codec/decoded.ts';
import { decodeSocks4Request } from '../codec/socks4.ts';
import { SocxError } from '../errors.ts';
import type { MessageReader } from '../message-reader.ts';
import { encodeFailure, type HandshakeOutcome } from './outcome.ts';
import type { ServerConfig } from './types.ts';

/** SOCKS4 has no authentication of its own (USERID is identd's business), so with users configured a SOCKS4
 * request is refused: letting it through would bypass the passwords. */
export async function socks4Handshake(reader: MessageReader, config: ServerConfig): Promise<HandshakeOutcome> {
  let request;
  try {
    request = await reader.read(decodeSocks4Request, 'request');
  } catch (error) {
    // A malformed request, or one longer than the handshake cap, still gets its 8-byte reply.
    const oversized = error instanceof SocxError && error.code === 'protocol';
    if (!(error instanceof CodecError) && !oversized) throw error;
    return { ok: false, reply: encodeFailure(4, Reply.GENERAL_FAILURE), result: `bad request: ${(error as Error).message}` };
  }
  const user = request.userId === '' ? undefined : request.userId;
  const target = request.address;
  if (!config.socks4) return { ok: false, reply: encodeFailure(4, Reply.NOT_ALLOWED), result: 'SOCKS4 is disabled', user, target };
  if (config.authenticate !== undefined) {
    return { ok: false, reply: encodeFailure(4, Reply.NOT_ALLOWED), result: 'SOCKS4 refused: authentication is required', user, target };
  }
  return { ok: true, request: { version: 4, command: request.command, address: request.address, user } };
}
