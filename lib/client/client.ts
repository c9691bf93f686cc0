import type { Socket } from 'node:net';
import { formatAddress, isUnspecified, type Address } from '../codec/address.ts';
import { AuthStatus, Command, type CommandName, Method, methodName, Reply, Socks4Reply } from '../codec/constants.ts';
import { CodecError } from '../codec/decoded.ts';
import { decodeSocks4Reply, encodeSocks4Request } from '../codec/socks4.ts';
import { decodeMethodSelection, decodeReply, decodeUserPassReply, encodeGreeting, encodeRequest, encodeUserPassRequest } from '../codec/socks5.ts';
import { dialTcp, type Dial } from '../dial.ts';
import { SocxError, errnoCode, socketErrorText, usageError, type Phase } from '../errors.ts';
import { MessageReader } from '../message-reader.ts';
import { httpStatusLine, shortRefusal } from './failed-reply.ts';
import { describeProxy, type ProxyConfig } from './proxy-url.ts';
import type { Resolver } from '../resolver/types.ts';
import { resolveLocally } from './resolve.ts';

export interface ClientOptions {
  readonly proxy: ProxyConfig;
  /** Bound on reaching the proxy and on each handshake exchange. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly dial?: Dial;
  /** Resolves names for socks5:// and socks4:// (and a UDP relay's name); default: the system's. */
  readonly resolver?: Resolver;
}

/** A connection through which the proxy has granted a request. */
export interface ProxySession {
  readonly socket: Socket;
  /** BND.ADDR/PORT of the (first) reply. */
  readonly bound: Address;
  /** Bytes that came right behind the reply: they belong to the next stage and must be delivered first. The
   * socket is paused. */
  readonly head: Buffer;
}

const commandCodes: Readonly<Record<CommandName, number>> = {
  connect: Command.CONNECT,
  bind: Command.BIND,
  udp: Command.UDP_ASSOCIATE,
};

/** Opens a connection to the proxy and has it carry out one command for `target`. */
export async function openSession(command: CommandName, target: Address, options: ClientOptions): Promise<ProxySession> {
  const { proxy } = options;
  if (command === 'udp') requireSocks5ForUdp(proxy);
  const resolved = await resolveLocally(target, proxy, options);
  const socket = await dialProxy(options);
  const reader = new MessageReader(socket, { peer: 'proxy', maxBytes: 1024 });
  const stopWaiting = bound(reader, options);
  try {
    const bound = proxy.version === 5
      ? await socks5Handshake(socket, reader, commandCodes[command], resolved, proxy)
      : await socks4Request(socket, reader, commandCodes[command], resolved, proxy, 'request');
    return { socket, bound, head: reader.release() };
  } catch (error) {
    const received = reader.release();
    socket.destroy();
    throw asClientError(error, proxy, received);
  } finally {
    stopWaiting();
  }
}

export function requireSocks5ForUdp(proxy: ProxyConfig): void {
  if (proxy.version === 4) throw usageError('UDP ASSOCIATE needs SOCKS5: use a socks5:// or socks5h:// proxy URL');
}

/** BIND's second reply (RFC 1928 §4): the address of the peer that connected, and the bytes behind it.
 * Waits up to `timeoutMs`. */
export async function readSecondReply(session: ProxySession, options: ClientOptions): Promise<{ peer: Address; head: Buffer }> {
  const reader = new MessageReader(session.socket, { peer: 'proxy', maxBytes: 1024, initial: session.head });
  const stopWaiting = bound(reader, options);
  try {
    const peer = options.proxy.version === 5
      ? checkSocks5Reply(await reader.read(decodeReply, 'second-reply'), 'second-reply')
      : checkSocks4Reply(await reader.read(decodeSocks4Reply, 'second-reply'), 'second-reply');
    return { peer, head: reader.release() };
  } catch (error) {
    const received = reader.release();
    session.socket.destroy();
    throw asClientError(error, options.proxy, received);
  } finally {
    stopWaiting();
  }
}

/** Fails the reader's pending read when the deadline passes or the caller aborts; returns the undo. */
function bound(reader: MessageReader, { timeoutMs, signal, proxy }: ClientOptions): () => void {
  const timer = setTimeout(() => reader.fail(new SocxError('timeout', `proxy ${describeProxy(proxy)} did not answer within ${timeoutMs} ms`)), timeoutMs);
  const onAbort = (): void => reader.fail(new SocxError('aborted', 'cancelled'));
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  return () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
}

async function dialProxy({ proxy, timeoutMs, signal, dial = dialTcp }: ClientOptions): Promise<Socket> {
  try {
    return await dial(proxy.host, proxy.port, signal ? { timeoutMs, signal } : { timeoutMs });
  } catch (error) {
    const why = error instanceof SocxError ? error.message : socketErrorText(errnoCode(error));
    const code = error instanceof SocxError ? error.code : 'proxy-unreachable';
    throw new SocxError(code, `Cannot connect to proxy ${formatAddress(proxy)}: ${why}`, { phase: 'connect', proxy: describeProxy(proxy), cause: error });
  }
}

async function socks5Handshake(socket: Socket, reader: MessageReader, command: number, target: Address, proxy: ProxyConfig): Promise<Address> {
  const offered: number[] = proxy.username === undefined ? [Method.NONE] : [Method.NONE, Method.USERPASS];
  socket.write(encodeGreeting({ methods: offered }));
  const { method } = await reader.read(decodeMethodSelection, 'greeting');
  if (method === Method.NO_ACCEPTABLE) {
    const hint = proxy.username === undefined ? ' (it may require a username and password: -U user:pass)' : '';
    throw new SocxError('no-acceptable-method', `proxy accepted none of the offered authentication methods: ${offered.map(methodName).join(', ')}${hint}`, { phase: 'greeting' });
  }
  if (!offered.includes(method)) {
    throw new SocxError('protocol', `proxy chose ${methodName(method)}, which was not offered`, { phase: 'greeting' });
  }
  if (method === Method.USERPASS) {
    socket.write(encodeUserPassRequest({ username: proxy.username ?? '', password: proxy.password ?? '' }));
    const { status } = await reader.read(decodeUserPassReply, 'auth');
    if (status !== AuthStatus.SUCCESS) {
      throw new SocxError('auth-failed', `proxy rejected the username/password for user "${proxy.username ?? ''}"`, { phase: 'auth' });
    }
  }
  socket.write(encodeRequest({ command, address: target }));
  return checkSocks5Reply(await reader.read(decodeReply, 'request'), 'request');
}

async function socks4Request(socket: Socket, reader: MessageReader, command: number, target: Address, proxy: ProxyConfig, phase: Phase): Promise<Address> {
  socket.write(encodeSocks4Request({ command, address: target, userId: proxy.username ?? '' }));
  return checkSocks4Reply(await reader.read(decodeSocks4Reply, phase), phase);
}

function checkSocks5Reply(reply: { reply: number; address: Address }, phase: Phase): Address {
  if (reply.reply !== Reply.SUCCEEDED) {
    throw new SocxError('request-rejected', 'proxy refused the request', { phase, reply: { version: 5, code: reply.reply } });
  }
  return reply.address;
}

function checkSocks4Reply(reply: { reply: number; host: string; port: number }, phase: Phase): Address {
  if (reply.reply !== Socks4Reply.GRANTED) {
    throw new SocxError('request-rejected', 'proxy refused the request', { phase, reply: { version: 4, code: reply.reply } });
  }
  return { type: 'ipv4', host: reply.host, port: reply.port };
}

/** A reply's name says nothing where a user needs to hear what answered instead, or that the proxy said no
 * before it hung up. `received`: the bytes of the message that failed. */
function asClientError(error: unknown, proxy: ProxyConfig, received: Buffer): unknown {
  const details = { proxy: describeProxy(proxy), cause: error };
  if (error instanceof CodecError) {
    const http = httpStatusLine(received);
    if (http !== undefined) return new SocxError('protocol', `proxy ${describeProxy(proxy)} answered HTTP, not SOCKS ("${http}"): is it a web server or an HTTP proxy?`, details);
    return new SocxError('protocol', `${describeProxy(proxy)} does not speak SOCKS${proxy.version} as expected: ${error.message}`, details);
  }
  const midReply = error instanceof SocxError && (error.code === 'proxy-closed' || error.code === 'network') && (error.phase === 'request' || error.phase === 'second-reply');
  const reply = midReply ? shortRefusal(received, proxy.version) : undefined;
  if (midReply && reply) {
    return new SocxError('proxy-closed', `${describeProxy(proxy)} closed the connection ${received.length} bytes into its reply`, { ...details, phase: error.phase, reply });
  }
  return error;
}

/** BND.ADDR that names no address: all zeros (RFC 1928 §6), or an empty name, which some servers send.
 * Either way the proxy means "where you reached me". */
export function namesNoAddress(bound: Address): boolean {
  return bound.type === 'domain' ? bound.host === '' : isUnspecified(bound);
}
