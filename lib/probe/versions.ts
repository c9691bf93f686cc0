import type { ClientOptions } from '../client/client.ts';
import type { Address } from '../codec/address.ts';
import { checkConnect, type CommandCheck, type ConnectTarget } from './commands.ts';

/** SOCKS4 (the client sends an IPv4 address) and SOCKS4a (it sends a name, 0.0.0.x in DSTIP, for the proxy to
 * resolve). A version counts when a CONNECT through it carries data both ways, not merely when the proxy
 * answers in its format: a SOCKS5-only server that refuses SOCKS4 in a SOCKS4 reply does not "support" it. */
export function checkSocks4(target: ConnectTarget & { readonly address: Address & { readonly type: 'ipv4' } }, client: ClientOptions): Promise<CommandCheck> {
  return checkConnect(target, socks4Client(client, false));
}

/** SOCKS4a: `name` must resolve, on the proxy, to the echo's address. */
export function checkSocks4a(target: ConnectTarget & { readonly address: Address & { readonly type: 'domain' } }, client: ClientOptions): Promise<CommandCheck> {
  return checkConnect(target, socks4Client(client, true));
}

function socks4Client(client: ClientOptions, remoteDns: boolean): ClientOptions {
  return { ...client, proxy: { ...client.proxy, kind: 'socks', version: 4, remoteDns } };
}
