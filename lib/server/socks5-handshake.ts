import type { Socket } from 'node:net';
import { AuthStatus, Method, Reply } from '../codec/constants.ts';
import { CodecError } from '../codec/decoded.ts';
import { decodeGreeting, decodeRequest, decodeUserPassRequest, encodeMethodSelection, encodeUserPassReply } from '../codec/socks5.ts';
import type { MessageReader } from '../message-reader.ts';
import { authenticateAsync } from './auth.ts';
import { encodeFailure, type HandshakeOutcome } from './outcome.ts';
import type { ServerConfig } from './types.ts';

/** RFC 1928 §3: pick a method the client offered. With users configured only username/password will do;
 * without, only "no authentication". Never a method the client did not offer. */
export function chooseMethod(offered: readonly number[], requireAuth: boolean): number {
  const wanted = requireAuth ? Method.USERPASS : Method.NONE;
  return offered.includes(wanted) ? wanted : Method.NO_ACCEPTABLE;
}

export async function socks5Handshake(socket: Socket, reader: MessageReader, config: ServerConfig): Promise<HandshakeOutcome> {
  let greeting;
  try {
    greeting = await reader.read(decodeGreeting, 'greeting');
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    return { ok: false, reply: encodeMethodSelection({ method: Method.NO_ACCEPTABLE }), result: `bad greeting: ${error.message}` };
  }
  const method = chooseMethod(greeting.methods, config.authenticate !== undefined);
  if (method === Method.NO_ACCEPTABLE) {
    return { ok: false, reply: encodeMethodSelection({ method }), result: `no acceptable method (offered ${greeting.methods.join(',')})` };
  }
  socket.write(encodeMethodSelection({ method }));

  let user: string | undefined;
  if (method === Method.USERPASS && config.authenticate) {
    const credentials = await reader.read(decodeUserPassRequest, 'auth');
    user = credentials.username;
    const client = { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    if (!await authenticateAsync(config.authenticate, credentials.username, credentials.password, client)) {
      return { ok: false, reply: encodeUserPassReply({ status: AuthStatus.FAILURE }), result: 'authentication failed', user };
    }
    socket.write(encodeUserPassReply({ status: AuthStatus.SUCCESS }));
  }

  try {
    const request = await reader.read(decodeRequest, 'request');
    return { ok: true, request: { version: 5, command: request.command, address: request.address, user } };
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    const code = error.code === 'bad-address-type' ? Reply.ADDRESS_TYPE_NOT_SUPPORTED : Reply.GENERAL_FAILURE;
    return { ok: false, reply: encodeFailure(5, code), result: `bad request: ${error.message}`, user };
  }
}
