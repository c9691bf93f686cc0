import { headerValues, type HttpHeader, type HttpVersion } from './http-head.ts';

/**
 * Connection-specific fields (RFC 9110 §7.6.1): they concern one hop and are not forwarded — Connection and
 * every field it names, and the ones that always mean this hop (Proxy-Connection, Keep-Alive, TE, Upgrade),
 * plus the proxy's own credentials and challenges (§11.7: consumed by the proxy that asked, never passed to an
 * origin). Transfer-Encoding is framing: it goes on only when the body goes on in the same chunked framing.
 */
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'transfer-encoding']);

const PRODUCT = 'socx';

/** The lower-case options of Connection (and of the old Proxy-Connection some clients still send). */
export function connectionOptions(headers: readonly HttpHeader[]): Set<string> {
  const values = [...headerValues(headers, 'connection'), ...headerValues(headers, 'proxy-connection')];
  return new Set(values.flatMap((value) => value.split(',')).map((token) => token.trim().toLowerCase()).filter((token) => token !== ''));
}

/** Whether the sender keeps the connection open after this message: HTTP/1.1 unless it says "close";
 * HTTP/1.0 is taken as closing (its keep-alive extension is not offered). */
export function persists(version: HttpVersion, headers: readonly HttpHeader[]): boolean {
  return version.minor >= 1 && !connectionOptions(headers).has('close');
}

/** The fields to send on: hop-by-hop ones removed, `Transfer-Encoding` kept when `chunked` is passed on
 * as it is, and a Via naming this hop (§7.6.3) as received in `received`. */
export function forwardHeaders(headers: readonly HttpHeader[], received: HttpVersion, keepTransferEncoding: boolean): HttpHeader[] {
  const named = connectionOptions(headers);
  const kept = headers.filter(({ name }) => {
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding') return keepTransferEncoding;
    return !HOP_BY_HOP.has(lower) && !named.has(lower);
  });
  kept.push({ name: 'Via', value: `${received.major}.${received.minor} ${PRODUCT}` });
  return kept;
}
