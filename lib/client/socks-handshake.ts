import type { Socket } from 'node:net';
import { formatAddress, type Address } from '../codec/address.ts';
import { AuthStatus, Command, type CommandName, hexByte, Method, methodName, Reply, replyName, Socks4Reply, socks4ReplyName } from '../codec/constants.ts';
import { replyTo } from '../codec/decoded.ts';
import { decodeSocks4Reply, encodeSocks4Request } from '../codec/socks4.ts';
import { decodeMethodSelection, decodeReply, decodeUserPassReply, encodeGreeting, encodeRequest, encodeUserPassRequest } from '../codec/socks5.ts';
import { SocxError, type Phase } from '../errors.ts';
import type { MessageReader } from '../message-reader.ts';
import { safeText } from '../safe-text.ts';
import { hopDetails, hopName, type Hop } from './hop.ts';
import type { SocksProxy } from './proxy-url.ts';

const commandCodes: Readonly<Record<CommandName, number>> = {
  connect: Command.CONNECT,
  bind: Command.BIND,
  udp: Command.UDP_ASSOCIATE,
};

/** The commands as trace lines name them (RFC 1928 §4's words). */
const commandWords: Readonly<Record<CommandName, string>> = { connect: 'connect', bind: 'bind', udp: 'udp-associate' };

/** RFC 1928 §3-§6 (with RFC 1929 when the proxy picks username/password): greeting, auth, request, reply.
 * Returns BND.ADDR/PORT. */
export async function socks5Handshake(socket: Socket, reader: MessageReader, command: CommandName, target: Address, hop: Hop & { proxy: SocksProxy }): Promise<Address> {
  const { proxy, trace } = hop;
  const offered: number[] = proxy.username === undefined ? [Method.NONE] : [Method.NONE, Method.USERPASS];
  trace?.(`> socks5 greeting methods=${offered.map(methodToken).join(',')}`);
  const greeting = encodeGreeting({ methods: offered });
  socket.write(greeting);
  const { method } = await reader.read(replyTo(greeting, 'SOCKS5 greeting', decodeMethodSelection, (answer) => answer.method === Method.NO_ACCEPTABLE || offered.includes(answer.method)), 'greeting');
  trace?.(`< socks5 method ${methodToken(method)}`);
  if (method === Method.NO_ACCEPTABLE) {
    const hint = proxy.username === undefined ? ` (it may require a username and password: ${hop.count === 1 ? '-U user:pass' : 'user:pass@ in its URL'})` : '';
    throw new SocxError('no-acceptable-method', `${hopName(hop, 'proxy')} accepted none of the offered authentication methods: ${offered.map(methodName).join(', ')}${hint}`, { phase: 'greeting', ...hopDetails(hop) });
  }
  if (!offered.includes(method)) {
    throw new SocxError('protocol', `${hopName(hop, 'proxy')} chose ${methodName(method)}, which was not offered`, { phase: 'greeting', ...hopDetails(hop) });
  }
  if (method === Method.USERPASS) {
    trace?.(`> socks5 auth user=${safeText(proxy.username ?? '')}`);
    socket.write(encodeUserPassRequest({ username: proxy.username ?? '', password: proxy.password ?? '' }));
    const { status } = await reader.read(decodeUserPassReply, 'auth');
    trace?.(`< socks5 auth ${status === AuthStatus.SUCCESS ? 'ok' : `failed status=${hexByte(status)}`}`);
    if (status !== AuthStatus.SUCCESS) {
      throw new SocxError('auth-failed', `${hopName(hop, 'proxy')} rejected the username/password for user "${safeText(proxy.username ?? '')}"`, { phase: 'auth', ...hopDetails(hop) });
    }
  }
  trace?.(`> socks5 ${commandWords[command]} ${traceAddress(target)}`);
  socket.write(encodeRequest({ command: commandCodes[command], address: target }));
  return checkSocks5Reply(await reader.read(decodeReply, 'request'), 'request', hop);
}

/** SOCKS4/4a: one request, one 8-byte reply. */
export async function socks4Request(socket: Socket, reader: MessageReader, command: CommandName, target: Address, hop: Hop & { proxy: SocksProxy }): Promise<Address> {
  const userId = hop.proxy.username ?? '';
  hop.trace?.(`> socks4 ${commandWords[command]} ${traceAddress(target)}${userId === '' ? '' : ` user=${safeText(userId)}`}`);
  const request = encodeSocks4Request({ command: commandCodes[command], address: target, userId });
  socket.write(request);
  return checkSocks4Reply(await reader.read(replyTo(request, 'SOCKS4 request', decodeSocks4Reply, isSocks4Reply), 'request'), 'request', hop);
}

const SOCKS4_REPLY_CODES: readonly number[] = Object.values(Socks4Reply);

/** CD is one of the four a SOCKS4 reply may carry. */
function isSocks4Reply({ reply }: { readonly reply: number }): boolean {
  return SOCKS4_REPLY_CODES.includes(reply);
}

export function checkSocks5Reply(reply: { reply: number; address: Address }, phase: Phase, hop: Hop): Address {
  hop.trace?.(`< socks5 ${phase === 'second-reply' ? 'second reply' : 'reply'} ${replyName(reply.reply)}${reply.reply === Reply.SUCCEEDED ? '' : ` (${hexByte(reply.reply)})`} bnd=${traceAddress(reply.address)}`);
  if (reply.reply !== Reply.SUCCEEDED) {
    throw new SocxError('request-rejected', 'proxy refused the request', { phase, reply: { version: 5, code: reply.reply }, ...hopDetails(hop) });
  }
  return reply.address;
}

export function checkSocks4Reply(reply: { reply: number; host: string; port: number }, phase: Phase, hop: Hop): Address {
  hop.trace?.(`< socks4 ${phase === 'second-reply' ? 'second reply' : 'reply'} ${socks4ReplyName(reply.reply)}${reply.reply === Socks4Reply.GRANTED ? '' : ` (${hexByte(reply.reply)})`} bnd=${reply.host}:${reply.port}`);
  if (reply.reply !== Socks4Reply.GRANTED) {
    throw new SocxError('request-rejected', 'proxy refused the request', { phase, reply: { version: 4, code: reply.reply }, ...hopDetails(hop) });
  }
  return { type: 'ipv4', host: reply.host, port: reply.port };
}

const methodTokens: Readonly<Record<number, string>> = { [Method.NONE]: 'none', [Method.GSSAPI]: 'gssapi', [Method.USERPASS]: 'userpass', [Method.NO_ACCEPTABLE]: 'none-acceptable' };

export function methodToken(code: number): string {
  return methodTokens[code] ?? hexByte(code);
}

/** An address for a trace line; a name in a reply comes from the proxy, so it is escaped. */
export function traceAddress(address: { host: string; port: number }): string {
  return safeText(formatAddress(address));
}
