import type { Address } from '../codec/address.ts';
import { CodecError } from '../codec/decoded.ts';
import { requestFraming, type Framing } from '../codec/http-framing.ts';
import { decodeHttpRequestHead, encodeHttpRequestHead, headerValues, MAX_HTTP_HEAD, type HttpHeader, type HttpRequestHead, type HttpVersion } from '../codec/http-head.ts';
import { decodeBasicCredentials, type BasicCredentials } from '../codec/http-basic.ts';
import { forwardHeaders, persists } from '../codec/http-hop.ts';
import { parseProxyTarget } from '../codec/http-target.ts';
import type { Outcome } from './types.ts';

/** A plain HTTP request to send on to its origin, and what the exchange needs to know about it. */
export interface ForwardPlan {
  readonly method: string;
  /** The head for the origin: origin-form target, hop-by-hop fields removed, Host from the URI, Via. */
  readonly head: Buffer;
  readonly framing: Framing;
  readonly clientVersion: HttpVersion;
  /** The client keeps the connection open after the response (HTTP/1.1 without "close"). */
  readonly clientPersists: boolean;
}

/** What a request head asks the session to do. */
export type HttpRequest =
  | { readonly kind: 'refuse'; readonly status: number; readonly outcome: Outcome; readonly why: string; readonly detail: string }
  | { readonly kind: 'connect' | 'forward'; readonly address: Address; readonly credentials: BasicCredentials | undefined; readonly forward: ForwardPlan | undefined };

export type HeadRead = { readonly used: number; readonly request: HttpRequest } | undefined;

/** An HTTP request starts with its method, a token (RFC 9110 §9.1): a letter, where SOCKS starts with 4 or 5. */
export function isHttpStart(byte: number): boolean {
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x7a;
}

/** `why` for the log; the response says only the fixed `detail`. */
const refuse = (status: number, why: string): HttpRequest => ({
  kind: 'refuse', status, outcome: 'bad-request', why,
  detail: status === 501 ? 'only http:// URIs and CONNECT are proxied' : status === 431 ? 'request head too large' : 'malformed request',
});

/** Reads one request head from `data` (undefined: not complete yet); malformed heads, and bodies framed in
 * ways two parsers could read differently, become refusals — 431 past the size bound (RFC 6585 §5), 501 for
 * a scheme other than http, else 400. */
export function readHttpRequest(data: Buffer, offset: number): HeadRead {
  let head: HttpRequestHead;
  let used: number;
  try {
    const decoded = decodeHttpRequestHead(data, offset, MAX_HTTP_HEAD);
    if (!decoded.done) return undefined;
    head = decoded.value;
    used = decoded.length;
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    const used = data.length - offset;
    if (error.code === 'too-long') return { used, request: refuse(431, `request head longer than ${MAX_HTTP_HEAD} bytes`) };
    return { used, request: refuse(400, `bad HTTP request: ${error.message}`) };
  }
  return { used, request: classify(head) };
}

function classify(head: HttpRequestHead): HttpRequest {
  let target;
  let framing: Framing;
  try {
    target = parseProxyTarget(head.method, head.target);
    framing = target.form === 'absolute' ? requestFraming(head.version, head.headers) : { kind: 'none' };
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    return refuse(error.code === 'bad-version' ? 501 : 400, `bad HTTP request: ${error.message}`);
  }
  const credentials = proxyCredentials(head.headers);
  if (target.form === 'authority') return { kind: 'connect', address: target.address, credentials, forward: undefined };
  // RFC 9112 §3.2.2: with an absolute-form target the Host field is replaced by the URI's authority.
  const headers = forwardHeaders(head.headers.filter(({ name }) => name.toLowerCase() !== 'host'), head.version, framing.kind === 'chunked');
  // The origin connection serves this one request: "close" tells the origin so, and ends its response.
  const origin = encodeHttpRequestHead({ method: head.method, target: target.path, headers: [{ name: 'Host', value: target.host }, ...headers, { name: 'Connection', value: 'close' }] });
  const forward: ForwardPlan = { method: head.method, head: origin, framing, clientVersion: head.version, clientPersists: persists(head.version, head.headers) };
  return { kind: 'forward', address: target.address, credentials, forward };
}

/** `Proxy-Authorization: Basic …` (RFC 9110 §11.7.2); absent, repeated, of another scheme or not decodable
 * are all answered alike, with a 407. */
function proxyCredentials(headers: readonly HttpHeader[]): BasicCredentials | undefined {
  const [value, ...more] = headerValues(headers, 'proxy-authorization');
  return value === undefined || more.length > 0 ? undefined : decodeBasicCredentials(value);
}
