import type { Socket } from 'node:net';
import { toAddress, type Address } from '../codec/address.ts';
import { Reply } from '../codec/constants.ts';
import { dialErrorText } from '../dial.ts';
import { SocxError, errnoCode, socketErrorToReply } from '../errors.ts';
import { relayAndRecord } from './relay-session.ts';
import type { CommandHandler } from './types.ts';

/** BND.ADDR/PORT: the local end of the upstream socket, as RFC 1928 §6 asks. */
export function localAddressOf(socket: Socket): Address {
  return toAddress(socket.localAddress ?? '0.0.0.0', socket.localPort ?? 0);
}

export function replyForDialError(error: unknown): number {
  if (error instanceof SocxError && error.code === 'timeout') return Reply.TTL_EXPIRED;
  return socketErrorToReply(errnoCode(error));
}

/** CONNECT: reply only once the upstream connection has succeeded or failed, then relay. */
export const connectCommand: CommandHandler = async (context) => {
  const { address } = context.request;
  const { config } = context;
  let upstream: Socket;
  try {
    upstream = await config.dial(address.host, address.port, { timeoutMs: config.connectTimeoutMs, signal: context.signal });
  } catch (error) {
    return context.refuse(replyForDialError(error), dialErrorText(error));
  }
  context.reply(Reply.SUCCEEDED, localAddressOf(upstream));
  await relayAndRecord(context, upstream, context.reader.release());
};
