import type { Command } from 'cac';
import { parseProxyUrl, proxyFromEnvironment, withCredentials, type ProxyConfig } from '../lib/client/proxy-url.ts';
import { durationOption, HOUR, stringOption } from './options.ts';

export const DEFAULT_PROXY = 'socks5h://127.0.0.1:1080';

/** The options every client command shares: which proxy, whose credentials, how long to wait. */
export function withProxyOptions(command: Command): Command {
  return command
    .option('-x, --proxy <url>', `Proxy URL: socks5h://, socks5://, socks4a://, socks4://, [user:pass@]host[:port]; else $SOCX_PROXY, $ALL_PROXY, then ${DEFAULT_PROXY}`)
    .option('-U, --proxy-user <user:pass>', 'Credentials for the proxy (SOCKS5 username/password, SOCKS4 USERID)')
    .option('--timeout <duration, bare = ms>', 'Limit on reaching the proxy and on each handshake step', { default: '10s' });
}

export interface ProxyOptions {
  readonly proxy: ProxyConfig;
  readonly timeoutMs: number;
}

export function parseProxyOptions(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ProxyOptions {
  const url = stringOption(raw.proxy, 'proxy') ?? proxyFromEnvironment(env) ?? DEFAULT_PROXY;
  return {
    proxy: withCredentials(parseProxyUrl(url), stringOption(raw.proxyUser, 'proxy-user')),
    timeoutMs: durationOption(raw.timeout, 'timeout', 'ms', { min: 1, max: HOUR }) ?? 10_000,
  };
}
