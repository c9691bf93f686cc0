/** A SocksServer on loopback with its records captured, and raw-socket SOCKS clients written with the codec,
 * so the server suites assert on exact bytes. */

import type { Address } from '../../lib/codec/address.ts';
import { Command } from '../../lib/codec/constants.ts';
import { encodeSocks4Request } from '../../lib/codec/socks4.ts';
import { decodeReply, encodeGreeting, encodeRequest, encodeUserPassRequest, type Socks5Reply } from '../../lib/codec/socks5.ts';
import { SocksServer, type ListenAddress } from '../../lib/server/server.ts';
import type { ConnectionRecord, ServerConfig } from '../../lib/server/types.ts';
import { Collector, connectTo, withTimeout, WAIT_MS } from './net.ts';

export interface TestServer {
  readonly server: SocksServer;
  readonly host: string;
  readonly port: number;
  readonly records: ConnectionRecord[];
  readonly debug: string[];
  /** Waits for the nth (0-based) connection record. */
  record(index: number, timeoutMs?: number): Promise<ConnectionRecord>;
  /** A raw TCP connection to the server, from `localAddress` if given (another loopback address). */
  client(localAddress?: string): Promise<Collector>;
  close(graceMs?: number): Promise<void>;
}

export async function startSocksServer(config: Partial<ServerConfig> = {}, host = '127.0.0.1', listener: Omit<ListenAddress, 'host' | 'port'> = {}): Promise<TestServer> {
  const records: ConnectionRecord[] = [];
  const debug: string[] = [];
  const waiters = new Set<() => void>();
  const server = new SocksServer({
    ...config,
    onConnection: (record) => {
      records.push(record);
      config.onConnection?.(record);
      for (const wake of [...waiters]) wake();
    },
    onDebug: (message) => {
      debug.push(message);
      config.onDebug?.(message);
    },
  });
  const [bound] = await server.listen([{ host, port: 0, ...listener }]);
  if (!bound) throw new Error('server did not bind');
  const clients: Collector[] = [];
  let closing: Promise<void> | undefined;
  return {
    server, host, port: bound.port, records, debug,
    async record(index, timeoutMs = WAIT_MS) {
      let wake: (() => void) | undefined;
      try {
        await withTimeout(new Promise<void>((resolve) => {
          wake = (): void => { if (records.length > index) resolve(); };
          waiters.add(wake);
          wake();
        }), timeoutMs, `connection record #${index}`);
      } finally {
        if (wake) waiters.delete(wake);
      }
      const record = records[index];
      if (!record) throw new Error('unreachable');
      return record;
    },
    async client(localAddress) {
      const collector = new Collector(await connectTo(host, bound.port, { localAddress }));
      clients.push(collector);
      return collector;
    },
    close(graceMs = 0) {
      for (const c of clients) c.socket.destroy();
      closing ??= withTimeout(server.close(graceMs), graceMs + WAIT_MS, 'the server to close');
      return closing;
    },
  };
}

export const GREETING_NO_AUTH = encodeGreeting({ methods: [0x00] });

/** Greeting offering `methods`; returns the two method-selection bytes. */
export async function greet(c: Collector, methods: number[] = [0x00]): Promise<Buffer> {
  c.socket.write(encodeGreeting({ methods }));
  return c.take(2);
}

export async function authenticate(c: Collector, username: string, password: string): Promise<Buffer> {
  c.socket.write(encodeUserPassRequest({ username, password }));
  return c.take(2);
}

export function connectRequest(address: Address): Buffer {
  return encodeRequest({ command: Command.CONNECT, address });
}

/** Sends a SOCKS5 CONNECT and reads the reply (however long its address is). */
export async function request5(c: Collector, address: Address): Promise<{ reply: Socks5Reply; bytes: Buffer }> {
  c.socket.write(connectRequest(address));
  const { value, bytes } = await c.read(decodeReply);
  return { reply: value, bytes };
}

export function socks4Connect(address: Address, userId = ''): Buffer {
  return encodeSocks4Request({ command: Command.CONNECT, address, userId });
}

/** An error shaped like a socket error from net.connect. */
export function socketError(code: string): Error {
  return Object.assign(new Error(`simulated ${code}`), { code });
}
