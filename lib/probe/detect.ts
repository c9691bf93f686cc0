import type { Socket } from 'node:net';
import { formatAddress } from '../codec/address.ts';
import { AuthStatus, hexByte, Method } from '../codec/constants.ts';
import type { Trace } from '../client/hop.ts';
import { methodToken } from '../client/socks-handshake.ts';
import { safeText } from '../safe-text.ts';
import { decodeHttpResponseHead, encodeHttpRequestHead } from '../codec/http-head.ts';
import { done, need, replyTo, type Decoded } from '../codec/decoded.ts';
import { decodeMethodSelection, decodeUserPassReply, encodeGreeting, encodeUserPassRequest } from '../codec/socks5.ts';
import { dialTcp, type Dial } from '../dial.ts';
import { SocxError, describeError, errnoCode, socketErrorText } from '../errors.ts';
import { MessageReader } from '../message-reader.ts';
import type { ProxyConfig } from '../client/proxy-url.ts';
import { showBytes } from './bytes.ts';
import { elapsedMs, startClock } from './clock.ts';

/** What an endpoint is when it is not (or not only) SOCKS5, as told by its answer to a SOCKS5 greeting. */
export type ContactKind = 'socks5' | 'http' | 'other' | 'silent' | 'closed-at-once' | 'refused' | 'unreachable';

export interface GreetingOutcome {
  readonly kind: ContactKind;
  /** The method the proxy chose (kind 'socks5'); 0xff when it accepted none. */
  readonly method?: number;
  /** Greeting round trip: from sending the greeting to its complete answer. */
  readonly latencyMs?: number;
  /** With credentials and username/password chosen: whether the proxy accepted them (RFC 1929 §2). */
  readonly auth?: { readonly ok: boolean; readonly reason?: string };
  /** Why, for everything but a method selection; what came back for 'other'. */
  readonly reason?: string;
  /** The local address of the connection: the address facing the proxy. */
  readonly localAddress?: string;
}

export interface StepOptions {
  readonly proxy: ProxyConfig;
  readonly timeoutMs: number;
  /** How the proxy is reached: straight, or through the hops of a chain before it. */
  readonly dial?: Dial | undefined;
  /** `-v`: each message sent and received, as one line. */
  readonly trace?: Trace | undefined;
}

type FirstAnswer = { readonly type: 'selection'; readonly method: number } | { readonly type: 'http' } | { readonly type: 'other'; readonly bytes: string };

const HTTP = Buffer.from('HTTP/');

/** The answer to a SOCKS5 greeting: a method selection (RFC 1928 §3), an HTTP status line (an HTTP server
 * answering garbage with 400), or anything else (a banner such as SSH's is shown as escaped text). */
export function decodeFirstAnswer(buf: Uint8Array, offset = 0): Decoded<FirstAnswer> {
  const first = buf[offset];
  if (first === undefined) return need(1);
  if (first === 0x05) {
    const selection = decodeMethodSelection(buf, offset);
    return selection.done ? done({ type: 'selection', method: selection.value.method }, selection.length) : selection;
  }
  const have = Math.min(buf.length - offset, HTTP.length);
  if (Buffer.from(buf.subarray(offset, offset + have)).equals(HTTP.subarray(0, have))) {
    return have < HTTP.length ? need(HTTP.length - have) : done({ type: 'http' }, have);
  }
  return done({ type: 'other', bytes: showBytes(buf.subarray(offset)) }, buf.length - offset);
}

/**
 * One connection that offers `method` alone (RFC 1928 §3) and reads the answer; with username/password chosen
 * and credentials given, goes on with RFC 1929. The dial and each read are bounded by `timeoutMs`.
 */
export async function offerMethod(method: number, { proxy, timeoutMs, dial = dialTcp, trace }: StepOptions): Promise<GreetingOutcome> {
  let socket: Socket;
  try {
    socket = await dial(proxy.host, proxy.port, { timeoutMs });
  } catch (error) {
    return dialFailure(error, proxy, timeoutMs);
  }
  const localAddress = socket.localAddress;
  const reader = new MessageReader(socket, { peer: 'proxy', maxBytes: 1024 });
  const timer = setTimeout(() => reader.fail(new SocxError('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const clock = startClock();
    trace?.(`> socks5 greeting methods=${methodToken(method)}`);
    const greeting = encodeGreeting({ methods: [method] });
    socket.write(greeting);
    const answer = await reader.read(replyTo(greeting, 'SOCKS5 greeting', decodeFirstAnswer, (first) => first.type !== 'selection' || first.method === method || first.method === Method.NO_ACCEPTABLE), 'greeting');
    const latencyMs = elapsedMs(clock);
    if (answer.type === 'http') {
      trace?.('< http (an HTTP status line)');
      return { kind: 'http', reason: 'it answered with HTTP: an HTTP server, not a SOCKS proxy', localAddress };
    }
    if (answer.type === 'other') {
      trace?.(`< other ${answer.bytes}`);
      return { kind: 'other', reason: `it answered the SOCKS5 greeting with ${answer.bytes}`, localAddress };
    }
    trace?.(`< socks5 method ${methodToken(answer.method)}`);
    const outcome = { kind: 'socks5' as const, method: answer.method, latencyMs, localAddress };
    if (answer.method !== Method.USERPASS || answer.method !== method || proxy.username === undefined) return outcome;
    trace?.(`> socks5 auth user=${safeText(proxy.username)}`);
    socket.write(encodeUserPassRequest({ username: proxy.username, password: proxy.password ?? '' }));
    try {
      const { status } = await reader.read(decodeUserPassReply, 'auth');
      trace?.(`< socks5 auth ${status === AuthStatus.SUCCESS ? 'ok' : `failed status=${hexByte(status)}`}`);
      return { ...outcome, auth: status === AuthStatus.SUCCESS ? { ok: true } : { ok: false, reason: `the proxy rejected the username/password for user "${proxy.username}"` } };
    } catch (error) {
      return { ...outcome, auth: { ok: false, reason: `no answer to the username/password: ${errorText(error)}` } };
    }
  } catch (error) {
    const failure = readFailure(error, timeoutMs, localAddress);
    trace?.(`< ${failure.kind}: ${failure.reason ?? ''}`);
    return failure;
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

/** A bare TCP connection, closed at once: whether anything listens, and the local address that faces it (where
 * the probe's echo targets must listen). */
export async function reach({ proxy, timeoutMs, dial = dialTcp }: StepOptions): Promise<{ readonly localAddress: string } | GreetingOutcome> {
  try {
    const socket = await dial(proxy.host, proxy.port, { timeoutMs });
    const localAddress = socket.localAddress ?? '127.0.0.1';
    socket.destroy();
    return { localAddress };
  } catch (error) {
    return dialFailure(error, proxy, timeoutMs);
  }
}

/** For an endpoint silent to a SOCKS5 greeting: an HTTP server that waits for a whole request line (Python's
 * http.server, for one) answers this. Only an HTTP status line counts; anything else keeps it 'silent'. */
export async function checkHttp({ proxy, timeoutMs, dial = dialTcp, trace }: StepOptions): Promise<boolean> {
  let socket: Socket;
  try {
    socket = await dial(proxy.host, proxy.port, { timeoutMs });
  } catch {
    return false;
  }
  const reader = new MessageReader(socket, { peer: 'proxy', maxBytes: 1024 });
  const timer = setTimeout(() => reader.fail(new SocxError('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    trace?.('> http HEAD /');
    socket.write(encodeHttpRequestHead({ method: 'HEAD', target: '/', headers: [{ name: 'Host', value: formatAddress(proxy) }] }));
    const head = await reader.read(decodeHttpResponseHead, 'greeting');
    trace?.(`< http ${safeText(`${head.status} ${head.reason}`)}`);
    return true;
  } catch (error) {
    trace?.(`< no HTTP response: ${errorText(error)}`);
    return false;
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

function dialFailure(error: unknown, proxy: ProxyConfig, timeoutMs: number): GreetingOutcome {
  const where = formatAddress(proxy);
  if (errnoCode(error) === 'ECONNREFUSED') return { kind: 'refused', reason: `nothing listens on ${where} (connection refused)` };
  if (isReset(error)) return resetAtOnce(undefined);
  if (error instanceof SocxError && error.hop !== undefined) return { kind: 'unreachable', reason: `${where} is not reachable through the chain: ${describeError(error)}` };
  if (error instanceof SocxError && error.code === 'timeout') return { kind: 'unreachable', reason: `${where} did not accept a TCP connection within ${timeoutMs} ms` };
  return { kind: 'unreachable', reason: `cannot connect to ${where}: ${errorText(error)}` };
}

function readFailure(error: unknown, timeoutMs: number, localAddress: string | undefined): GreetingOutcome {
  if (error instanceof SocxError && error.code === 'timeout') {
    return { kind: 'silent', reason: `it accepted the connection but sent nothing within ${timeoutMs} ms`, localAddress };
  }
  if (error instanceof SocxError && error.code === 'network' && isReset(error.cause)) return resetAtOnce(localAddress);
  if (error instanceof SocxError && error.code === 'proxy-closed') {
    return { kind: 'closed-at-once', reason: 'it closed the connection without answering', localAddress };
  }
  return { kind: 'other', reason: errorText(error), localAddress };
}

/** The server reset the connection (a write after it did fails with EPIPE instead). */
function isReset(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** A reset before any answer: the TCP connection was accepted (a port nobody listens on refuses it), then
 * dropped at once, as a server limiting connections per client address does. Whether the reset came before
 * Node saw the connect complete or after depends on timing, so both read the same. */
function resetAtOnce(localAddress: string | undefined): GreetingOutcome {
  return { kind: 'closed-at-once', reason: `${socketErrorText('ECONNRESET')} by the server right after accepting, before any answer (as a limit on connections per client address does)`, localAddress };
}

/** A failure in words: a socket error's from the one errno mapping, never Node's "connect ECONNRESET 1.2.3.4:5". */
export function errorText(error: unknown): string {
  const code = errnoCode(error);
  if (code === undefined && error instanceof Error) return error.message;
  return socketErrorText(code);
}
