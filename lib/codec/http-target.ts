import { isIP } from 'node:net';
import { MAX_DOMAIN_LENGTH, toAddress, type Address } from './address.ts';
import { CodecError, printable } from './decoded.ts';

/**
 * What a forward proxy is asked for (RFC 9112 §3.2): a tunnel to an authority (CONNECT host:port), or a
 * resource by its absolute URI, which is sent on to the origin in origin-form (path and query) with the
 * URI's authority as the Host.
 */
export type ProxyTarget =
  | { readonly form: 'authority'; readonly address: Address }
  | { readonly form: 'absolute'; readonly address: Address; readonly host: string; readonly path: string };

const DEFAULT_PORT = 80;
// RFC 3986 §3.2.2 reg-name characters (unreserved, pct-encoded, sub-delims): no userinfo, no path.
const REG_NAME = /^[A-Za-z0-9\-._~%!$&'()*+,;=]+$/;

function bad(message: string): CodecError {
  return new CodecError('bad-syntax', message);
}

/** `host:port` or `[v6]:port`, the port required unless `defaultPort` is given. */
export function parseAuthority(text: string, defaultPort?: number): Address {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    host = close < 0 ? '' : text.slice(1, close);
    const after = close < 0 ? '' : text.slice(close + 1);
    if (isIP(host) !== 6 || (after !== '' && !after.startsWith(':'))) throw bad(`bad IPv6 authority "${printable(text, 64)}"`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (!REG_NAME.test(host) || host.length > MAX_DOMAIN_LENGTH) throw bad(`bad host in "${printable(text, 64)}"`);
  }
  if (portText === undefined || portText === '') {
    if (defaultPort === undefined) throw bad(`no port in "${printable(text, 64)}"`);
    return toAddress(host, defaultPort);
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) throw bad(`bad port in "${printable(text, 64)}"`);
  return toAddress(host, port);
}

/**
 * The target of a request to a proxy: authority-form for CONNECT (RFC 9110 §9.3.6), absolute-form with the
 * http scheme for anything else. Origin-form (`/path`, a request meant for a web server) and asterisk-form
 * throw `bad-syntax`; another scheme (https, ftp) throws `bad-version`: the proxy speaks plain HTTP only.
 */
export function parseProxyTarget(method: string, target: string): ProxyTarget {
  if (method === 'CONNECT') return { form: 'authority', address: parseAuthority(target) };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(target);
  if (!scheme) throw bad('the request target is not an absolute URI (this is a proxy, not a web server)');
  if (scheme[1]?.toLowerCase() !== 'http') throw new CodecError('bad-version', `the ${scheme[1]?.toLowerCase()} scheme is not proxied (only http; use CONNECT for https)`);
  const rest = target.slice(scheme[0].length);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  if (authority.includes('@')) throw bad('credentials in the request URI');
  const address = parseAuthority(authority, DEFAULT_PORT);
  // The fragment is never sent (RFC 9110 §4.2.5); an empty path is "/" (RFC 9112 §3.2.1).
  const tail = end < 0 ? '' : rest.slice(end).replace(/#.*$/, '');
  const path = tail === '' || tail.startsWith('?') ? `/${tail}` : tail;
  return { form: 'absolute', address, host: authority, path };
}
