import type { ClientOptions } from '../client/client.ts';
import type { ProxyConfig } from '../client/proxy-url.ts';
import type { Address } from '../codec/address.ts';
import { checkConnect, type CommandCheck, type ConnectTarget } from './commands.ts';

/** SOCKS4 (the client sends an IPv4 address) and SOCKS4a (it sends a name, 0.0.0.x in DSTIP, for the proxy to
 * resolve). A version counts when a CONNECT through it carries data both ways, not merely when the proxy
 * answers in its format: a SOCKS5-only server that refuses SOCKS4 in a SOCKS4 reply does not "support" it. */
export function checkSocks4(target: ConnectTarget & { readonly address: Address & { readonly type: 'ipv4' } }, proxy: ProxyConfig, timeoutMs: number): Promise<CommandCheck> {
  return checkConnect(target, socks4Client(proxy, false, timeoutMs));
}

/** SOCKS4a: `name` must resolve, on the proxy, to the echo's address. */
export function checkSocks4a(target: ConnectTarget & { readonly address: Address & { readonly type: 'domain' } }, proxy: ProxyConfig, timeoutMs: number): Promise<CommandCheck> {
  return checkConnect(target, socks4Client(proxy, true, timeoutMs));
}

function socks4Client(proxy: ProxyConfig, remoteDns: boolean, timeoutMs: number): ClientOptions {
  return { proxy: { ...proxy, kind: 'socks', version: 4, remoteDns }, timeoutMs };
}
