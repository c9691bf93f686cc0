import { isIP } from 'node:net';
import { formatAddress, toAddress, type Address } from '../codec/address.ts';
import { usageError } from '../errors.ts';

export interface ProxyConfig {
  readonly version: 4 | 5;
  /** socks5h / socks4a: the proxy resolves names; socks5 / socks4: we do. */
  readonly remoteDns: boolean;
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
}

const schemes: Readonly<Record<string, Pick<ProxyConfig, 'version' | 'remoteDns'>>> = {
  socks5: { version: 5, remoteDns: false },
  socks5h: { version: 5, remoteDns: true },
  socks4: { version: 4, remoteDns: false },
  socks4a: { version: 4, remoteDns: true },
};

export const DEFAULT_PROXY_PORT = 1080;

/** Proxy URLs as curl spells them; no scheme means socks5h://, no port means 1080. */
export function parseProxyUrl(text: string): ProxyConfig {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `socks5h://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw usageError(`bad proxy URL: ${redact(text)}`);
  }
  const scheme = schemes[url.protocol.slice(0, -1).toLowerCase()];
  if (!scheme) throw usageError(`unsupported proxy scheme "${url.protocol}" in ${redact(text)}: use socks5h://, socks5://, socks4a:// or socks4://`);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw usageError(`proxy URL has no host: ${redact(text)}`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) {
    throw usageError(`proxy URL must be scheme://[user:pass@]host[:port]: ${redact(text)}`);
  }
  const port = url.port === '' ? DEFAULT_PROXY_PORT : Number(url.port);
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

/** RFC 1929 allows at most 255 bytes each; SOCKS4's USERID ends at a NUL, so it cannot hold one. */
function checkCredentials(proxy: ProxyConfig): ProxyConfig {
  for (const [what, value] of [['user name', proxy.username], ['password', proxy.password]] as const) {
    if (value !== undefined && Buffer.byteLength(value) > 255) throw usageError(`proxy ${what} is longer than 255 bytes`);
  }
  if (proxy.version === 4 && proxy.username?.includes('\0')) throw usageError('a SOCKS4 user id cannot contain a NUL byte');
  // RFC 1929 §2: both fields are 1-255 bytes; a user without a password (or the reverse) cannot log in.
  if (proxy.version === 5 && (proxy.username === undefined) !== (proxy.password === undefined || proxy.password === '')) {
    throw usageError(proxy.username === undefined ? 'proxy password given without a user name' : `empty proxy password for user "${proxy.username}": SOCKS5 username/password needs 1-255 bytes (RFC 1929)`);
  }
  return proxy;
}

/** The URL with any password hidden, fit for messages and logs. */
export function redact(text: string): string {
  return text.replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?[^:@/]*):[^@/]*@/i, '$1:***@');
}

export function describeProxy(proxy: ProxyConfig): string {
  const scheme = proxy.version === 5 ? (proxy.remoteDns ? 'socks5h' : 'socks5') : proxy.remoteDns ? 'socks4a' : 'socks4';
  return `${scheme}://${formatAddress(proxy)}`;
}

/** `-x`, else SOCX_PROXY, else ALL_PROXY / all_proxy when it holds a socks URL. */
export function proxyFromEnvironment(env: NodeJS.ProcessEnv): string | undefined {
  if (env.SOCX_PROXY) return env.SOCX_PROXY;
  for (const name of ['ALL_PROXY', 'all_proxy']) {
    const value = env[name];
    if (value && /^socks/i.test(value)) return value;
  }
  return undefined;
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
