import { isIP } from 'node:net';
import { formatAddress, toAddress, type Address } from '../codec/address.ts';
import { SocxError, usageError } from '../errors.ts';
import { safeText } from '../safe-text.ts';

interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
}

export interface SocksProxy extends Endpoint {
  readonly kind: 'socks';
  readonly version: 4 | 5;
  /** socks5h / socks4a: the proxy resolves names; socks5 / socks4: we do. */
  readonly remoteDns: boolean;
}

/** HTTP CONNECT (RFC 9110 §9.3.6): tunnels only, the proxy always resolves names. */
export interface HttpProxy extends Endpoint {
  readonly kind: 'http';
  /** https://: TLS to the proxy itself (what goes through the tunnel is the caller's business). */
  readonly tls: boolean;
}

/** One hop: what a proxy URL names. */
export type ProxyConfig = SocksProxy | HttpProxy;

type Scheme = Pick<SocksProxy, 'kind' | 'version' | 'remoteDns'> | Pick<HttpProxy, 'kind' | 'tls'>;

/** In the order --help lists them. */
const schemes: Readonly<Record<string, Scheme>> = {
  socks5h: { kind: 'socks', version: 5, remoteDns: true },
  socks5: { kind: 'socks', version: 5, remoteDns: false },
  socks4a: { kind: 'socks', version: 4, remoteDns: true },
  socks4: { kind: 'socks', version: 4, remoteDns: false },
  http: { kind: 'http', tls: false },
  https: { kind: 'http', tls: true },
};

/** Every scheme a proxy URL may have: "socks5h", …, "https". */
export const PROXY_SCHEMES: readonly string[] = Object.keys(schemes);

export const DEFAULT_PROXY_PORT = 1080;
/** As curl: every proxy defaults to 1080 but an HTTPS one, which defaults to 443. */
const DEFAULT_HTTPS_PROXY_PORT = 443;

/** Proxy URLs as curl spells them; no scheme means `bareScheme` (socks5h://, ours; curl's variables mean
 * http://), no port means 1080 (443 for https://). */
export function parseProxyUrl(text: string, bareScheme = 'socks5h'): ProxyConfig {
  const [, given, rest = ''] = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is.exec(text) ?? [undefined, bareScheme, text];
  const scheme = schemes[given.toLowerCase()];
  if (!scheme) throw usageError(`unsupported proxy scheme "${given}:" in ${redact(text)}: use socks5h://, socks5://, socks4a://, socks4://, http:// or https://`);
  let url: URL;
  try {
    // One neutral scheme for all: WHATWG URLs treat http(s) as special (the default port vanishes from
    // `url.port`, the host is case-folded); socks URLs are parsed as they always were.
    url = new URL(`proxy://${rest}`);
  } catch {
    throw usageError(`bad proxy URL: ${redact(text)}`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw usageError(`proxy URL has no host: ${redact(text)}`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) {
    throw usageError(`proxy URL must be scheme://[user:pass@]host[:port]: ${redact(text)}`);
  }
  const port = url.port !== '' ? Number(url.port) : scheme.kind === 'http' && scheme.tls ? DEFAULT_HTTPS_PROXY_PORT : DEFAULT_PROXY_PORT;
  if (port === 0) throw usageError(`proxy port must be 1-65535: ${redact(text)}`);
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw usageError(`bad percent-encoding in proxy URL: ${redact(text)}`);
    }
  };
  return checkCredentials({
    ...scheme,
    host: decode(host),
    port,
    username: url.username === '' ? undefined : decode(url.username),
    password: url.password === '' ? undefined : decode(url.password),
  });
}

function checkCredentials(proxy: ProxyConfig): ProxyConfig {
  return proxy.kind === 'http' ? checkBasicCredentials(proxy) : checkSocksCredentials(proxy);
}

/** RFC 1929 allows at most 255 bytes each; SOCKS4's USERID ends at a NUL, so it cannot hold one. */
function checkSocksCredentials(proxy: SocksProxy): SocksProxy {
  for (const [what, value] of [['user name', proxy.username], ['password', proxy.password]] as const) {
    if (value !== undefined && Buffer.byteLength(value) > 255) throw usageError(`proxy ${what} is longer than 255 bytes`);
  }
  if (proxy.version === 4 && proxy.username?.includes('\0')) throw usageError('a SOCKS4 user id cannot contain a NUL byte');
  // RFC 1929 §2: both fields are 1-255 bytes; a user without a password (or the reverse) cannot log in.
  if (proxy.version === 5 && (proxy.username === undefined) !== (proxy.password === undefined || proxy.password === '')) {
    throw usageError(proxy.username === undefined ? 'proxy password given without a user name' : `empty proxy password for user "${safeText(proxy.username)}": SOCKS5 username/password needs 1-255 bytes (RFC 1929)`);
  }
  return proxy;
}

/** RFC 7617 §2: Basic joins user and password with a colon, so the user cannot contain one; an empty password
 * is allowed. */
function checkBasicCredentials(proxy: HttpProxy): HttpProxy {
  if (proxy.username === undefined && proxy.password !== undefined) throw usageError('proxy password given without a user name');
  if (proxy.username?.includes(':')) throw usageError('an HTTP proxy user name cannot contain ":" (RFC 7617 Basic authentication)');
  for (const value of [proxy.username, proxy.password]) {
    if (value !== undefined && /[\0\r\n]/.test(value)) throw usageError('HTTP proxy credentials cannot contain NUL, CR or LF');
  }
  return proxy;
}

/** The URL with any password hidden, fit for messages and logs: everything from the user name's colon to
 * the last "@", since a password may hold "/", "?", "#" or (unencoded) "@" — the URL parser takes the last
 * one as the end of the credentials, and a URL it refuses may have any of them. */
export function redact(text: string): string {
  const [, scheme = '', rest = ''] = /^((?:[a-z][a-z0-9+.-]*:\/\/)?)(.*)$/is.exec(text) ?? [];
  return scheme + rest.replace(/^([^:@]*):.*@/s, '$1:***@');
}

/** The scheme and address, never the credentials: fit for messages and logs. */
export function describeProxy(proxy: ProxyConfig): string {
  return `${schemeName(proxy)}://${formatAddress(proxy)}`;
}

function schemeName(proxy: ProxyConfig): string {
  if (proxy.kind === 'http') return proxy.tls ? 'https' : 'http';
  return proxy.version === 5 ? (proxy.remoteDns ? 'socks5h' : 'socks5') : proxy.remoteDns ? 'socks4a' : 'socks4';
}

/** A proxy URL from the environment, and the variable that held it (for messages). */
export interface EnvironmentProxy {
  readonly variable: string;
  readonly url: string;
}

/** SOCX_PROXY is ours: no scheme means socks5h:// as on the command line. The others are curl's, and a value
 * without a scheme means http:// there, as curl reads it. ALL_PROXY comes before HTTPS_PROXY (curl, for an
 * https:// URL, reads them the other way round): socx has always read ALL_PROXY, where SOCKS users put their
 * proxy, while HTTPS_PROXY is often set machine-wide for an HTTP proxy that package managers use. */
const ENVIRONMENT: ReadonlyArray<{ readonly variable: string; readonly bareScheme: string }> = [
  { variable: 'SOCX_PROXY', bareScheme: 'socks5h' },
  { variable: 'ALL_PROXY', bareScheme: 'http' },
  { variable: 'all_proxy', bareScheme: 'http' },
  { variable: 'HTTPS_PROXY', bareScheme: 'http' },
  { variable: 'https_proxy', bareScheme: 'http' },
];

/** The variables a client command takes its proxy from, first first: what --help lists. */
export const PROXY_VARIABLES: readonly string[] = ENVIRONMENT.map((entry) => entry.variable);

/** The first non-empty of SOCX_PROXY, ALL_PROXY, all_proxy, HTTPS_PROXY, https_proxy. Whatever it holds is
 * the proxy: a command that cannot use it says so, naming the variable, rather than skip it. */
export function proxyFromEnvironment(env: NodeJS.ProcessEnv): EnvironmentProxy | undefined {
  for (const { variable } of ENVIRONMENT) {
    const url = env[variable];
    if (url) return { variable, url };
  }
  return undefined;
}

/** Parses a URL from `proxyFromEnvironment`, with that variable's reading of a missing scheme; errors name
 * the variable. */
export function parseEnvironmentProxy({ variable, url }: EnvironmentProxy): ProxyConfig {
  const bareScheme = ENVIRONMENT.find((entry) => entry.variable === variable)?.bareScheme ?? 'socks5h';
  try {
    return parseProxyUrl(url, bareScheme);
  } catch (error) {
    if (error instanceof SocxError) throw usageError(`$${variable}: ${error.message}`);
    throw error;
  }
}

/** `-U user:pass` overrides credentials in the URL. */
export function withCredentials(proxy: ProxyConfig, userPass: string | undefined): ProxyConfig {
  if (userPass === undefined) return proxy;
  const colon = userPass.indexOf(':');
  const username = colon < 0 ? userPass : userPass.slice(0, colon);
  const password = colon < 0 ? '' : userPass.slice(colon + 1);
  if (username === '') throw usageError('--proxy-user must be user:password');
  return checkCredentials({ ...proxy, username, password });
}

/** A target from the command line: host (a name, an IPv4, an IPv6 with or without brackets) and port. */
export function parseTarget(host: string, port: string, { allowZero = false } = {}): Address {
  if (host === '') throw usageError('missing target host');
  const portNumber = /^\d+$/.test(port) ? Number(port) : NaN;
  if (!(portNumber >= (allowZero ? 0 : 1) && portNumber <= 65535)) throw usageError(`bad port "${port}": expected ${allowZero ? 0 : 1}-65535`);
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.includes(':') && isIP(bare) !== 6) throw usageError(`bad IPv6 address "${host}"`);
  if (Buffer.byteLength(bare) > 255) throw usageError('target host name is longer than 255 bytes');
  return toAddress(bare, portNumber);
}
