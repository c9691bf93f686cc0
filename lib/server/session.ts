import type { Socket } from 'node:net';
import { formatAddress, type Address } from '../codec/address.ts';
import { commandName, Reply, replyName, Version } from '../codec/constants.ts';
import { peekVersion } from '../codec/version.ts';
import { describeError } from '../errors.ts';
import { MessageReader } from '../message-reader.ts';
import { encodeFailure, encodeServerReply, type HandshakeOutcome } from './outcome.ts';
import { socks4Handshake } from './socks4-handshake.ts';
import { socks5Handshake } from './socks5-handshake.ts';
import type { CommandContext, ConnectionRecord, ServerConfig } from './types.ts';

/** How long a refused client gets to read our last reply before the socket is destroyed. */
const LINGER_MS = 1000;

/** Sends the last bytes, then reads and discards until the client closes (or the linger ends), so the
 * reply is not lost to a reset caused by unread input. */
export function closeAfterReply(socket: Socket, reply: Buffer | undefined): void {
  socket.setTimeout(0);
  socket.on('error', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(timer));
  if (reply) socket.end(reply);
  else socket.end();
  socket.resume();
}

export async function runSession(socket: Socket, config: ServerConfig, shutdown: AbortSignal): Promise<void> {
  const started = performance.now();
  const client = { host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
  const record: ConnectionRecord = {
    client: formatAddress(client), version: undefined, command: undefined, target: undefined, user: undefined,
    ok: false, result: '', bytesUp: 0, bytesDown: 0, durationMs: 0, extra: {},
  };
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  const onShutdown = (): void => abort.abort();
  socket.once('close', onClose);
  shutdown.addEventListener('abort', onShutdown, { once: true });
  socket.setTimeout(config.handshakeTimeoutMs);
  const reader = new MessageReader(socket, { peer: 'client', maxBytes: config.maxHandshakeBytes });
  const debug = (message: string): void => config.onDebug?.(`${record.client} ${message}`);

  const finishWith = (reply: Buffer | undefined, result: string): void => {
    record.result = result;
    reader.release();
    closeAfterReply(socket, reply);
  };

  try {
    const outcome = await handshake(socket, reader, config, record);
    if (!outcome.ok) {
      record.user = outcome.user;
      record.target = outcome.target && formatAddress(outcome.target);
      return finishWith(outcome.reply, outcome.result);
    }
    const { request } = outcome;
    record.version = request.version;
    record.user = request.user;
    record.target = formatAddress(request.address);
    record.command = commandName(request.command);
    debug(`SOCKS${request.version} ${record.command ?? `command 0x${request.command.toString(16)}`} ${record.target}${request.user ? ` user ${request.user}` : ''}`);

    const handler = record.command && config.commands[record.command];
    if (!handler) return finishWith(encodeFailure(request.version, Reply.COMMAND_NOT_SUPPORTED), replyName(Reply.COMMAND_NOT_SUPPORTED));
    if (!config.allow(request, client)) return finishWith(encodeFailure(request.version, Reply.NOT_ALLOWED), replyName(Reply.NOT_ALLOWED));

    const context: CommandContext = {
      socket, reader, request, client, config, record, signal: abort.signal, debug,
      reply: (code: number, bound: Address) => { socket.write(encodeServerReply(request.version, code, bound)); },
      refuse: (code: number, why: string) => finishWith(encodeFailure(request.version, code), why === replyName(code) ? why : `${replyName(code)} (${why})`),
    };
    await handler(context);
  } catch (error) {
    record.result = describeError(error);
    reader.release();
    socket.destroy();
  } finally {
    socket.off('close', onClose);
    shutdown.removeEventListener('abort', onShutdown);
    record.durationMs = performance.now() - started;
    config.onConnection(record);
  }
}

async function handshake(socket: Socket, reader: MessageReader, config: ServerConfig, record: ConnectionRecord): Promise<HandshakeOutcome> {
  const version = await reader.read(peekVersion, 'greeting');
  if (version === Version.SOCKS5 || version === Version.SOCKS4) record.version = version;
  if (version === Version.SOCKS5) return socks5Handshake(socket, reader, config);
  if (version === Version.SOCKS4) return socks4Handshake(reader, config);
  return { ok: false, reply: undefined, result: `not a SOCKS request (first byte 0x${version.toString(16).padStart(2, '0')})` };
}
