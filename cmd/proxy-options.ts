import type { Command } from 'cac';
import { chainOptions, unsupportedCommand, type Trace } from '../lib/client/client.ts';
import { describeProxy, parseEnvironmentProxy, parseProxyUrl, PROXY_SCHEMES, PROXY_VARIABLES, proxyFromEnvironment, withCredentials, type ProxyConfig } from '../lib/client/proxy-url.ts';
import type { CommandName } from '../lib/codec/constants.ts';
import { usageError } from '../lib/errors.ts';
import { durationOption, HOUR, listOption, stringOption } from './options.ts';
import { printStatus } from './output.ts';

export const DEFAULT_PROXY = 'socks5h://127.0.0.1:1080';
/** Above the 10 s a proxy commonly gives a target to accept (socx serve's --connect-timeout, Dante's is
 * longer still): the proxy's reply 0x06 says more than our own timeout would. */
export const DEFAULT_TIMEOUT_MS = 20_000;

/** Where a command without -x finds its proxy, for --help: the variables in the order they are read. */
export const PROXY_FALLBACK = `the first of ${PROXY_VARIABLES.map((variable) => `$${variable}`).join(', ')}, then ${DEFAULT_PROXY}`;

/** What a command does with its proxy: the command it sends, and whether `-x` may be repeated (a chain). */
export interface ProxyUse {
  readonly command: CommandName;
  readonly chain: boolean;
}

/** The options every client command shares: which proxy, whose credentials, how long to wait. The schemes and
 * credentials listed are those of proxies that can carry out the command (unsupportedCommand's rule); in a
 * chain, the hops before the last only CONNECT, so any scheme will do there. */
export function withProxyOptions(command: Command, use: ProxyUse): Command {
  const schemes = PROXY_SCHEMES.map((name) => ({ url: `${name}://`, proxy: parseProxyUrl(`${name}://host`) }));
  const usable = schemes.filter(({ proxy }) => unsupportedCommand(use.command, proxy) === undefined);
  const hopsOnly = schemes.filter((scheme) => !usable.includes(scheme)).map(({ url }) => url);
  const list = usable.map(({ url }) => url).join(', ');
  const credentials = [...new Set(usable.map(({ proxy }) => credentialsOf(proxy)))].join(', ');
  const chain = !use.chain ? '' : `; repeat for a chain, first hop first${hopsOnly.length > 0 ? ` (the hops before the last may also be ${hopsOnly.join(' or ')})` : ''}`;
  return command
    .option('-x, --proxy <url>', `Proxy URL: ${list} [user:pass@]host[:port]${chain}; else ${PROXY_FALLBACK}`)
    .option('-U, --proxy-user <user:pass>', `Credentials for the proxy (${credentials})${use.chain ? '; with a chain, give each hop its own in its URL' : ''}`)
    .option('--timeout <duration, bare = ms>', `Limit on a local DNS lookup, on reaching the proxy, and on its handshake (above socx serve's 10 s --connect-timeout, so the proxy's own timeout reply reaches you)`, { default: '20s' });
}

/** What -U means for this kind of proxy. */
function credentialsOf(proxy: ProxyConfig): string {
  if (proxy.kind === 'http') return 'HTTP Basic';
  return proxy.version === 5 ? 'SOCKS5 username/password' : 'SOCKS4 USERID';
}

export interface ProxyOptions {
  /** The proxy that carries out the command (the last hop of a chain). */
  readonly proxy: ProxyConfig;
  /** The hops before it, first first; undefined with one proxy. */
  readonly via?: readonly ProxyConfig[] | undefined;
  readonly timeoutMs: number;
}

export function parseProxyOptions(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, use: ProxyUse = { command: 'connect', chain: false }): ProxyOptions {
  const proxies = proxiesFrom(raw, env, use);
  return {
    ...chainOptions(proxies),
    timeoutMs: durationOption(raw.timeout, 'timeout', 'ms', { min: 1, max: HOUR }) ?? DEFAULT_TIMEOUT_MS,
  };
}

/** `-x` (repeated: a chain, where the command allows one), else the environment, else the default. */
function proxiesFrom(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, use: ProxyUse): ProxyConfig[] {
  const userPass = stringOption(raw.proxyUser, 'proxy-user');
  const urls = listOption(raw.proxy, 'proxy');
  if (urls.length > 1) {
    if (!use.chain) throw usageError(use.command === 'udp' ? "a chain of proxies (-x repeated) cannot carry UDP: the datagrams would go straight to the last proxy's relay, past the other hops; give one -x" : '--proxy may be given only once');
    if (userPass !== undefined) throw usageError('with a chain (-x repeated), -U would not say which hop it is for: put each hop\'s credentials in its URL');
    const proxies = urls.map((url) => parseProxyUrl(url));
    requireCommand(use.command, proxies.at(-1)!, undefined);
    return proxies;
  }
  const fromEnvironment = urls.length === 0 ? proxyFromEnvironment(env) : undefined;
  const proxy = withCredentials(fromEnvironment ? parseEnvironmentProxy(fromEnvironment) : parseProxyUrl(urls[0] ?? DEFAULT_PROXY), userPass);
  requireCommand(use.command, proxy, fromEnvironment?.variable);
  return [proxy];
}

/** `-v`: each handshake line on stderr, as connect-proxy's -d. */
export function traceOption(verbose: boolean): { trace?: Trace } {
  return verbose ? { trace: printStatus } : {};
}

/** "socks5h://a:1080", or a chain: "http://a:3128 -> socks5h://b:1080". */
export function describeChain({ proxy, via = [] }: ProxyOptions): string {
  return [...via, proxy].map(describeProxy).join(' -> ');
}

/** Refuses a proxy that cannot do the command before anything is sent; one taken from the environment is
 * named, since the user may not know it is set. */
function requireCommand(command: CommandName, proxy: ProxyConfig, variable: string | undefined): void {
  const reason = unsupportedCommand(command, proxy);
  if (reason === undefined) return;
  throw usageError(variable === undefined ? reason : `the proxy in $${variable}: ${reason}; give a SOCKS proxy with -x or $SOCX_PROXY`);
}
