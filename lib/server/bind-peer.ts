import type { Socket } from 'node:net';
import { formatAddress, type Address } from '../codec/address.ts';
import { Reply } from '../codec/constants.ts';
import { describeError, errnoCode, socketErrorText } from '../errors.ts';
import type { WaitOutcome } from './bind-wait.ts';
import { replyFor } from './reply-for.ts';
import type { CommandContext } from './types.ts';

/** The peer that connected, checked against the request and the rules; on success the second reply (RFC
 * 1928 §6: BND.ADDR/PORT are now the address and port of the connecting host) is sent. */
export function admitPeer(context: CommandContext, expected: ReadonlySet<string> | undefined, peer: Socket, from: Address): boolean {
  context.record.peer = formatAddress(from);
  if (expected !== undefined && !expected.has(from.host)) {
    peer.destroy();
    context.refuse(Reply.NOT_ALLOWED, `peer ${formatAddress(from)} is not the expected ${context.request.address.host}`);
    return false;
  }
  const verdict = context.checkPolicy(from.host, undefined, from.port);
  if (!verdict.allowed) {
    peer.destroy();
    context.refuse(Reply.NOT_ALLOWED, `peer ${formatAddress(from)}: rule: ${verdict.rule}`);
    return false;
  }
  context.reply(Reply.SUCCEEDED, from);
  return true;
}

/** The wait ended without a peer: a failure reply where the client can still read one. */
export function endWithout(context: CommandContext, outcome: Exclude<WaitOutcome<unknown>, { kind: 'peer' }>): void {
  const seconds = context.config.bindTimeoutMs / 1000;
  switch (outcome.kind) {
    case 'timeout':
      return context.refuse(Reply.TTL_EXPIRED, `no peer connected within ${seconds} s`);
    case 'client-ended':
      return context.refuse(Reply.GENERAL_FAILURE, 'the client closed the connection before a peer connected');
    case 'listener-failed':
      return context.refuse(replyFor(outcome.error), `accepting the peer failed: ${describeError(outcome.error)}`);
    case 'client-failed':
      context.record.result = `client connection failed while waiting for a peer: ${socketErrorText(errnoCode(outcome.error))}`;
      context.socket.destroy();
      return;
    case 'aborted':
      context.record.result = outcome.clientGone ? 'client closed the connection before a peer connected' : 'server shutting down';
      context.socket.destroy();
      return;
  }
}
