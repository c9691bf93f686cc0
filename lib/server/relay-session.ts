import type { Socket } from 'node:net';
import { errnoCode } from '../errors.ts';
import { relay } from '../relay.ts';
import type { CommandContext } from './types.ts';

/** The tail every TCP command shares once its last reply is sent (CONNECT's reply, BIND's second reply):
 * relay the client with `upstream`, delivering `head` (bytes the client sent early) first, and record the
 * bytes each way and how it ended. */
export async function relayAndRecord(context: CommandContext, upstream: Socket, head: Buffer): Promise<void> {
  const { config, record } = context;
  // The handshake timer is done with: from here on only the idle timer may end a quiet relay.
  context.socket.setTimeout(0);
  const result = await relay(context.socket, upstream, { headA: head, idleTimeoutMs: config.idleTimeoutMs, signal: context.signal });
  record.ok = true;
  record.bytesUp = result.bytesAToB;
  record.bytesDown = result.bytesBToA;
  record.result = result.reason === 'completed' ? 'ok' : `ok, ended: ${result.reason}${result.error ? ` (${errnoCode(result.error) ?? result.error.message})` : ''}`;
}
