import type { Socket } from 'node:net';
import { formatAddress, toAddress, type Address } from '../codec/address.ts';
import type { CommandName } from '../codec/constants.ts';
import { dialTcp, type Dial } from '../dial.ts';
import { SocxError, errnoCode, socketErrorText, usageError } from '../errors.ts';
import { MessageReader } from '../message-reader.ts';
import type { ClientOptions, ProxySession } from './client.ts';
import { asClientError, bound } from './exchange.ts';
import { hopDetails, hopName, hopsOf, type Hop } from './hop.ts';
import { connectAuthority, httpConnect, HTTP_HEAD_MAX_BYTES } from './http-connect.ts';
import type { ProxyConfig } from './proxy-url.ts';
import { startTls } from './tls-hop.ts';
import { resolveLocally } from './resolve.ts';
import { socks4Request, socks5Handshake } from './socks-handshake.ts';

/** An open connection to the next hop (or, after the last, to the target) and what arrived behind the reply
 * that opened it. */
interface Link {
  readonly socket: Socket;
  readonly head: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * proxychains' strict chain: the client dials the first hop, each hop CONNECTs to the next one, and the last
 * carries out `command` for `target`. Every hop gets the next one's address as the URL gives it: a name
 * stays a name for socks5h/socks4a/http hops and is looked up here, before anything is dialed, for
 * socks5/socks4 hops. That lookup is local, like proxychains' with proxy_dns off — the name of hop 3 is
 * resolved by this machine, not by hop 2.
 */
export async function runChain(proxies: readonly ProxyConfig[], command: CommandName, target: Address, options: ClientOptions): Promise<ProxySession> {
  const hops = hopsOf(proxies, options.trace);
  const [first] = hops;
  if (!first) throw usageError('no proxy given');
  const targets: Address[] = [];
  for (const [i, hop] of hops.entries()) {
    const next = proxies[i + 1];
    const resolved = await resolveLocally(next ? toAddress(next.host, next.port) : target, hop.proxy, options);
    if (hop.proxy.kind === 'http') connectAuthority(resolved);
    targets.push(resolved);
  }
  let link: Link = { socket: await dialFirst(first, options), head: EMPTY };
  let bound: Address | undefined;
  for (const [i, hop] of hops.entries()) {
    const last = i === hops.length - 1;
    ({ link, bound } = await throughHop(link, hop, last ? command : 'connect', targets[i]!, options));
  }
  return { socket: link.socket, head: link.head, bound: bound! };
}

/** A `Dial` (lib/dial.ts) whose sockets reach (host, port) through `proxies`, for code that dials without
 * knowing about proxies. Bytes that arrived right behind the last reply are put back into the socket. */
export function dialThrough(proxies: readonly ProxyConfig[], options: Omit<ClientOptions, 'proxy' | 'via' | 'timeoutMs' | 'signal'>): Dial {
  return async (host, port, dialOptions) => {
    const session = await runChain(proxies, 'connect', toAddress(host, port), { ...options, ...dialOptions, proxy: proxies.at(-1)! });
    if (session.head.length > 0) session.socket.unshift(session.head);
    return session.socket;
  };
}

async function dialFirst(hop: Hop, { timeoutMs, signal, dial = dialTcp }: ClientOptions): Promise<Socket> {
  const { proxy } = hop;
  try {
    const socket = await dial(proxy.host, proxy.port, signal ? { timeoutMs, signal } : { timeoutMs });
    hop.trace?.(`* connected to ${formatAddress(proxy)}`);
    return socket;
  } catch (error) {
    const why = error instanceof SocxError ? error.message : socketErrorText(errnoCode(error));
    const code = error instanceof SocxError ? error.code : 'proxy-unreachable';
    throw new SocxError(code, `Cannot connect to ${hopName(hop, `proxy ${formatAddress(proxy)}`)}: ${why}`, { phase: 'connect', ...hopDetails(hop), cause: error });
  }
}

/** One hop's handshake over `link`: on success the socket reaches `target` (or holds the BIND / UDP
 * association); on failure it is destroyed and the error names the hop. */
async function throughHop(given: Link, hop: Hop, command: CommandName, target: Address, options: ClientOptions): Promise<{ link: Link; bound: Address }> {
  const { proxy } = hop;
  const link = proxy.kind === 'http' && proxy.tls ? await startTls(given, hop, options) : given;
  const { socket } = link;
  const reader = new MessageReader(socket, { peer: hopName(hop, 'proxy'), maxBytes: proxy.kind === 'http' ? HTTP_HEAD_MAX_BYTES : 1024, initial: link.head });
  const stopWaiting = bound(reader, hop, options);
  try {
    const reached = proxy.kind === 'http'
      ? await httpConnect(socket, reader, target, { ...hop, proxy })
      : proxy.version === 5
        ? await socks5Handshake(socket, reader, command, target, { ...hop, proxy })
        : await socks4Request(socket, reader, command, target, { ...hop, proxy });
    return { link: { socket, head: reader.release() }, bound: reached };
  } catch (error) {
    const received = reader.release();
    socket.destroy();
    throw asClientError(error, hop, received);
  } finally {
    stopWaiting();
  }
}
