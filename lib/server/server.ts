import { setTimeout as delay } from 'node:timers/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dialTcp } from '../dial.ts';
import { resolveHost } from '../resolve.ts';
import { bindCommand } from './bind-command.ts';
import { connectCommand } from './connect-command.ts';
import { runSession } from './session.ts';
import { udpCommand } from './udp-command.ts';
import type { ServerConfig } from './types.ts';

export interface ListenAddress { readonly host: string; readonly port: number }

export const defaultServerConfig: ServerConfig = {
  users: new Map(),
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
  allow: () => true,
  onConnection: () => {},
  onDebug: undefined,
};

/** A SOCKS4/4a/5 server on any number of listeners. Prints nothing: what happens goes to the config's
 * callbacks. */
export class SocksServer {
  readonly #config: ServerConfig;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #shutdown = new AbortController();

  constructor(config: Partial<ServerConfig> = {}) {
    this.#config = { ...defaultServerConfig, ...config };
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
    socket.once('close', () => this.#sockets.delete(socket));
    void runSession(socket, this.#config, this.#shutdown.signal);
  }
}
