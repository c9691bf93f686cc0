import { randomBytes } from 'node:crypto';
import { createServer, isIPv6, type Socket } from 'node:net';

/** The bytes that open every connection to a TokenTarget: they say which check the connection belongs to. */
export const TOKEN_LENGTH = 16;

export interface Arrival {
  /** The target's end of the connection the proxy opened, flowing. */
  readonly socket: Socket;
  /** What came right behind the token. */
  readonly head: Buffer;
}

/**
 * A TCP target whose far end a check drives itself: each connection starts with a token the check made, and
 * `arrival(token)` hands the check that connection. Checks of pipelining and half-close need to act on both
 * ends (send after a FIN, see what arrived) — an echo cannot.
 */
export interface TokenTarget {
  readonly host: string;
  readonly port: number;
  /** A fresh token and the promise of its connection (undefined when none came within `timeoutMs`). */
  expect(timeoutMs: number): { readonly token: Buffer; readonly arrival: Promise<Arrival | undefined> };
  close(): Promise<void>;
}

export async function startTokenTarget(host: string): Promise<TokenTarget> {
  const waiting = new Map<string, (arrival: Arrival) => void>();
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < TOKEN_LENGTH) return;
      socket.off('data', onData);
      socket.pause();
      const key = head.subarray(0, TOKEN_LENGTH).toString('hex');
      const deliver = waiting.get(key);
      waiting.delete(key);
      if (deliver) deliver({ socket, head: head.subarray(TOKEN_LENGTH) });
      else socket.destroy();
    };
    socket.on('data', onData);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0, ipv6Only: isIPv6(host) }, () => {
      const address = server.address();
      if (address && typeof address === 'object') resolve(address.port);
      else reject(new Error('the token target has no port'));
    });
  });
  return {
    host,
    port,
    expect(timeoutMs) {
      const token = randomBytes(TOKEN_LENGTH);
      const key = token.toString('hex');
      const arrival = new Promise<Arrival | undefined>((resolve) => {
        const timer = setTimeout(() => { waiting.delete(key); resolve(undefined); }, timeoutMs);
        waiting.set(key, (found) => { clearTimeout(timer); resolve(found); });
      });
      return { token, arrival };
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
