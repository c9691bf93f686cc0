import { setTimeout as delay } from 'node:timers/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dialTcp } from '../dial.ts';
import { resolveHost } from '../resolve.ts';
import { bindCommand } from './bind-command.ts';
import { connectCommand } from './connect-command.ts';
import { runSession } from './session.ts';
import { udpCommand } from './udp-command.ts';
import type { CommandContext, ServerConfig } from './types.ts';

export interface ListenAddress { readonly host: string; readonly port: number }

/** What SIGUSR1 prints. Bytes count client-side traffic (handshakes included) of TCP connections, open and
 * closed. */
export interface ServerStatus {
  readonly startedAt: number;
  readonly connections: { readonly handshake: number; readonly relaying: number; readonly total: number };
  /** Open connections per client IP, the five largest. */
  readonly topClients: Array<[ip: string, count: number]>;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

export const defaultServerConfig: ServerConfig = {
  authenticate: undefined,
  handshakeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  bindTimeoutMs: 60_000,
  idleTimeoutMs: 0,
  // The longest legal handshake (SOCKS5 greeting + RFC 1929 request + request with a 255-byte name) is about
  // 1 kB; SOCKS4a's two NUL-terminated fields are bounded at 255 bytes each by the codec.
  maxHandshakeBytes: 2048,
  socks4: true,
  advertise: undefined,
  udpIdleTimeoutMs: 120_000,
  udpPortRange: undefined,
  maxUdpAssociationsPerClient: 32,
  resolve: resolveHost,
  commands: { connect: connectCommand, bind: bindCommand, udp: udpCommand },
  dial: dialTcp,
  egress: undefined,
  allow: () => true,
  onConnection: () => {},
  onDebug: undefined,
};

/** A SOCKS4/4a/5 server on any number of listeners. Prints nothing: what happens goes to the config's
 * callbacks. */
export class SocksServer {
  #config: ServerConfig;
  readonly #startedAt = Date.now();
  /** Sockets whose handshake is over (a command handler runs for them). */
  readonly #pastHandshake = new WeakSet<Socket>();
  #closedBytesUp = 0;
  #closedBytesDown = 0;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #shutdown = new AbortController();

  constructor(config: Partial<ServerConfig> = {}) {
    this.#config = this.#withCounting({ ...defaultServerConfig, ...config });
  }

  /** Replaces the settings for connections accepted from now on; open ones keep the settings they started
   * with (each session holds the config object it was given at accept). Listeners are not touched. */
  reconfigure(config: Partial<ServerConfig>): void {
    this.#config = this.#withCounting({ ...defaultServerConfig, ...config });
  }

  status(): ServerStatus {
    let relaying = 0;
    let bytesUp = this.#closedBytesUp;
    let bytesDown = this.#closedBytesDown;
    const perIp = new Map<string, number>();
    for (const socket of this.#sockets) {
      if (this.#pastHandshake.has(socket)) relaying++;
      bytesUp += socket.bytesRead;
      bytesDown += socket.bytesWritten;
      const ip = socket.remoteAddress ?? '?';
      perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    }
    const total = this.#sockets.size;
    const topClients = [...perIp].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 5);
    return { startedAt: this.#startedAt, connections: { handshake: total - relaying, relaying, total }, topClients, bytesUp, bytesDown };
  }

  /** Marks a session as past its handshake when its command handler starts. */
  #withCounting(config: ServerConfig): ServerConfig {
    const commands = Object.fromEntries(Object.entries(config.commands).map(([name, handler]) => [name, (context: CommandContext) => {
      this.#pastHandshake.add(context.socket);
      return handler(context);
    }]));
    return { ...config, commands };
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Resolves with the real address of each listener (port 0 becomes the port chosen). */
  async listen(addresses: readonly ListenAddress[]): Promise<ListenAddress[]> {
    const bound: ListenAddress[] = [];
    for (const { host, port } of addresses) {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port, ipv6Only: host.includes(':') }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.#servers.push(server);
      const address = server.address();
      if (address && typeof address === 'object') bound.push({ host: address.address, port: address.port });
    }
    return bound;
  }

  /** Stops accepting, lets open connections finish for up to `graceMs`, then cuts the rest. */
  async close(graceMs: number): Promise<void> {
    // net.Server's close callback runs once every connection it accepted has closed.
    const drained = Promise.all(this.#servers.map((server) => new Promise((resolve) => server.close(resolve))));
    const grace = new AbortController();
    await Promise.race([drained, delay(graceMs, undefined, { signal: grace.signal }).catch(() => undefined)]);
    grace.abort();
    this.#shutdown.abort();
    for (const socket of this.#sockets) socket.destroy();
    await drained;
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#closedBytesUp += socket.bytesRead;
      this.#closedBytesDown += socket.bytesWritten;
    });
    void runSession(socket, this.#config, this.#shutdown.signal);
  }
}
