import type { Socket } from 'node:net';
import { basicCredentials } from '../codec/http-basic.ts';
import { formatAddress, type Address } from '../codec/address.ts';
import { decodeHttpResponseHead, encodeHttpRequestHead, headerValues, MAX_HTTP_HEAD, type HttpHeader, type HttpResponseHead } from '../codec/http-head.ts';
import type { Decoded } from '../codec/decoded.ts';
import { SocxError, usageError } from '../errors.ts';
import type { MessageReader } from '../message-reader.ts';
import { safeText } from '../safe-text.ts';
import { hopDetails, hopName, type Hop } from './hop.ts';
import type { HttpProxy } from './proxy-url.ts';
import { traceAddress } from './socks-handshake.ts';

/** The reader's cap for an HTTP proxy's answer: the codec's own limit on a head. */
export const HTTP_HEAD_MAX_BYTES = MAX_HTTP_HEAD;

/** CONNECT names no bound address: all zeros, RFC 1928's "where you reached me". */
const NO_ADDRESS: Address = { type: 'ipv4', host: '0.0.0.0', port: 0 };

const decodeResponse = (buf: Uint8Array): Decoded<HttpResponseHead> => decodeHttpResponseHead(buf, 0, MAX_HTTP_HEAD);

/** CONNECT's authority-form (RFC 9110 §9.3.6: "host:port", IPv6 in brackets). A name that could not be sent
 * as a host there (spaces, controls, URL delimiters, non-ASCII) is a usage error. */
export function connectAuthority(target: Address): string {
  if (target.type === 'domain' && !/^[A-Za-z0-9\-._~!$&'()*+,;=%]+$/.test(target.host)) {
    throw usageError(`the target name "${safeText(target.host)}" cannot be sent to an HTTP proxy (CONNECT takes a plain host name; IDNs in their xn-- form)`);
  }
  return formatAddress(target);
}

/**
 * HTTP CONNECT (RFC 9110 §9.3.6) with Basic credentials (RFC 7617) when the URL has a user. Interim 1xx
 * answers are skipped; any 2xx opens the tunnel (its Content-Length or Transfer-Encoding, if any, is
 * ignored, as the RFC says); 407 (or 401) is an authentication failure, anything else a refusal naming the
 * status.
 */
export async function httpConnect(socket: Socket, reader: MessageReader, target: Address, hop: Hop & { proxy: HttpProxy }): Promise<Address> {
  const { proxy, trace } = hop;
  const authority = connectAuthority(target);
  const headers: HttpHeader[] = [{ name: 'Host', value: authority }];
  if (proxy.username !== undefined) headers.push({ name: 'Proxy-Authorization', value: basicCredentials(proxy.username, proxy.password ?? '') });
  trace?.(`> http CONNECT ${traceAddress(target)}${proxy.username === undefined ? '' : ` auth=basic user=${safeText(proxy.username)}`}`);
  socket.write(encodeHttpRequestHead({ method: 'CONNECT', target: authority, headers }));
  for (;;) {
    const answer = await reader.read(decodeResponse, 'request');
    const reason = safeText(answer.reason.slice(0, 120));
    trace?.(`< http ${answer.status}${reason === '' ? '' : ` ${reason}`}`);
    if (answer.status >= 100 && answer.status < 200 && answer.status !== 101) continue;
    if (answer.status >= 200 && answer.status < 300) return NO_ADDRESS;
    // 401 is the origin's code, but before the tunnel opens only the proxy can answer: tinyproxy sends it
    // for wrong credentials.
    if (answer.status === 407 || answer.status === 401) throw authenticationRefused(hop, answer, reason);
    throw new SocxError('request-rejected', `proxy refused the request: ${answer.status} ${reason}`, { phase: 'request', reply: { version: 'http', code: answer.status, reason }, ...hopDetails(hop) });
  }
}

/** 407 / 401: what was refused, and what the proxy asks for when it is not Basic (Digest, NTLM, Negotiate). */
function authenticationRefused(hop: Hop & { proxy: HttpProxy }, answer: HttpResponseHead, reason: string): SocxError {
  const { username } = hop.proxy;
  const schemes = headerValues(answer.headers, 'Proxy-Authenticate').map((value) => safeText(value.split(/[\s,]/)[0] ?? '')).filter((scheme) => scheme !== '');
  const basic = schemes.length === 0 || schemes.some((scheme) => scheme.toLowerCase() === 'basic');
  const why = !basic
    ? `; it asks for ${[...new Set(schemes)].join(', ')}, and socx speaks only Basic`
    : username === undefined ? ` (it requires a username and password: ${hop.count === 1 ? '-U user:pass, or ' : ''}user:pass@ in the URL)` : ` for user "${safeText(username)}"`;
  return new SocxError('auth-failed', `${hopName(hop, 'proxy')} refused authentication: ${answer.status}${reason === '' ? '' : ` ${reason}`} (HTTP)${why}`, { phase: 'auth', ...hopDetails(hop) });
}
