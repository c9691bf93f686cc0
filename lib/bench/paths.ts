import type { Socket } from 'node:net';
import { openSession, unsupportedCommand } from '../client/client.ts';
import { describeProxy, type ProxyConfig } from '../client/proxy-url.ts';
import { SocxError } from '../errors.ts';
import type { ConnectionPlan } from './connection-rate.ts';
import { dialCounting } from './counting-socket.ts';
import { handshakeScript } from './handshake-script.ts';
import type { TargetName, TargetPorts } from './targets.ts';
import { directUdp, proxiedUdp, type UdpChannel } from './udp.ts';

/** A connection to a target, set up and ready for data. */
export interface Opened {
  /** Paused, with an error listener that ignores errors (the caller adds its own). Reads arrive as 'data'
   * events until the caller switches to counting them (countReads). */
  readonly socket: Socket;
  /** Bytes the target sent behind the proxy's reply. */
  readonly head: Buffer;
}

/** One way of reaching the targets: directly (the baseline) or through one proxy. */
export interface BenchPath {
  /** What the report calls it: "direct", a label, or the proxy URL without credentials. */
  readonly name: string;
  readonly proxy: ProxyConfig | undefined;
  /** The proxy's process (and its children), when known, to tell its CPU use. */
  readonly pid: number | undefined;
  /** A connection to `target`, its SOCKS handshake done; the signal cancels the setup too. */
  open(target: TargetName, signal?: AbortSignal): Promise<Opened>;
  /** The connection-rate generator's target: with `proxy`, all it needs to reach it (pingPlan), in this
   * process or in a generator process of its own. */
  readonly pingTarget: { readonly host: string; readonly port: number };
  /** Datagrams to and from the UDP echo target; the signal cancels the UDP ASSOCIATE. */
  openUdp(signal?: AbortSignal): Promise<UdpChannel>;
}

/** How the connection-rate generator reaches the ping target: straight, or through the proxy with its
 * handshake. */
export function pingPlan(proxy: ProxyConfig | undefined, target: { host: string; port: number }): ConnectionPlan {
  if (!proxy) return { host: target.host, port: target.port, script: [] };
  return { host: proxy.host, port: proxy.port, script: handshakeScript(proxy, target) };
}

export function directPath(targets: TargetPorts, timeoutMs: number): BenchPath {
  const pingTarget = { host: targets.host, port: targets.ping };
  return {
    name: 'direct',
    proxy: undefined,
    pid: undefined,
    pingTarget,
    openUdp: () => directUdp(targets.host, targets.udpEcho),
    open: async (target, signal) => {
      const socket = await dialCounting(targets.host, targets[target], { timeoutMs, signal });
      socket.on('error', ignore);
      socket.pause();
      return { socket, head: EMPTY };
    },
  };
}

export function proxyPath(targets: TargetPorts, proxy: ProxyConfig, options: { name?: string | undefined; pid?: number | undefined; timeoutMs: number }): BenchPath {
  const pingTarget = { host: targets.host, port: targets.ping };
  // An HTTP or SOCKS4 proxy has no UDP relay: a result for that path, not a usage error that ends the run.
  const noUdp = unsupportedCommand('udp', proxy);
  return {
    name: options.name ?? describeProxy(proxy),
    proxy,
    pid: options.pid,
    pingTarget,
    openUdp: (signal) => noUdp !== undefined
      ? Promise.reject(new SocxError('protocol', noUdp))
      : proxiedUdp(proxy, { host: targets.host, port: targets.udpEcho }, options.timeoutMs, signal),
    open: async (target, signal) => {
      const session = await openSession('connect', { type: 'ipv4', host: targets.host, port: targets[target] }, { proxy, timeoutMs: options.timeoutMs, dial: dialCounting, signal });
      // The session's reader has let go of the socket: without a listener, an error would be thrown.
      session.socket.on('error', ignore);
      return { socket: session.socket, head: session.head };
    },
  };
}

const EMPTY = Buffer.alloc(0);
const ignore = (): void => {};
