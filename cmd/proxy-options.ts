import type { Command } from 'cac';
import { parseProxyUrl, proxyFromEnvironment, withCredentials, type ProxyConfig } from '../lib/client/proxy-url.ts';
import { durationOption, HOUR, stringOption } from './options.ts';

export const DEFAULT_PROXY = 'socks5h://127.0.0.1:1080';
/** Above the 10 s a proxy commonly gives a target to accept (socx serve's --connect-timeout, Dante's is
 * longer still): the proxy's reply 0x06 says more than our own timeout would. */
export const DEFAULT_TIMEOUT_MS = 20_000;

/** The options every client command shares: which proxy, whose credentials, how long to wait. */
export function withProxyOptions(command: Command): Command {
  return command
    .option('-x, --proxy <url>', `Proxy URL: socks5h://, socks5://, socks4a://, socks4://, [user:pass@]host[:port]; else $SOCX_PROXY, $ALL_PROXY, then ${DEFAULT_PROXY}`)
    .option('-U, --proxy-user <user:pass>', 'Credentials for the proxy (SOCKS5 username/password, SOCKS4 USERID)')
    .option('--timeout <duration, bare = ms>', `Limit on a local DNS lookup, on reaching the proxy, and on its handshake (above socx serve's 10 s --connect-timeout, so the proxy's own timeout reply reaches you)`, { default: '20s' });
}

export interface ProxyOptions {
  readonly proxy: ProxyConfig;
  readonly timeoutMs: number;
}

export function parseProxyOptions(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ProxyOptions {
  const url = stringOption(raw.proxy, 'proxy') ?? proxyFromEnvironment(env) ?? DEFAULT_PROXY;
  return {
    proxy: withCredentials(parseProxyUrl(url), stringOption(raw.proxyUser, 'proxy-user')),
    timeoutMs: durationOption(raw.timeout, 'timeout', 'ms', { min: 1, max: HOUR }) ?? DEFAULT_TIMEOUT_MS,
  };
}
