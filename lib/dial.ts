import { connect, isIP, type OnReadOpts, type Socket } from 'node:net';
import { SocxError, errnoCode, socketErrorText } from './errors.ts';

export interface DialOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** How the client opens TCP connections; injected so tests run without a network. */
export type Dial = (host: string, port: number, options: DialOptions) => Promise<Socket>;

/** An upstream connection and the bytes it sent before its owner took it (a server that speaks first, or a
 * chained proxy's reply with data behind it): they must reach the client first, not be lost. */
export interface Dialed { readonly socket: Socket; readonly head: Buffer | undefined }

export interface UpstreamDialOptions extends DialOptions {
  /** Read into this buffer with this callback instead of emitting 'data' (the server's shared read buffer). */
  readonly onread?: OnReadOpts | undefined;
  /** The local address to connect from (serve --egress). */
  readonly localAddress?: string | undefined;
}

/** How the server opens upstream connections; injected so tests run without a network. */
export type UpstreamDial = (host: string, port: number, options: UpstreamDialOptions) => Promise<Dialed>;

export const dialUpstream: UpstreamDial = (host, port, options) => {
  const socket = connect({ host, port, allowHalfOpen: true, noDelay: true, ...(options.onread ? { onread: options.onread } : {}), ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
  return awaitConnect(socket, host, port, options).then((connected) => ({ socket: connected, head: undefined }));
};

/** A TCP connection with allowHalfOpen (the relay needs it) and Nagle off (handshakes are small writes).
 * Rejects with the socket error itself, so its `code` can be mapped to a SOCKS reply, or a SocxError
 * 'timeout' / 'aborted'. */
export const dialTcp: Dial = (host, port, options) =>
  awaitConnect(connect({ host, port, allowHalfOpen: true, noDelay: true }), host, port, options);

/** Resolves once a connecting socket is connected; on error, timeout or abort destroys it and rejects. */
export function awaitConnect(socket: Socket, host: string, port: number, options: DialOptions): Promise<Socket> {
  return awaitSocket(socket, 'connect', options, {
    timeout: () => new SocxError('timeout', `connecting to ${host}:${port} timed out after ${options.timeoutMs} ms`),
    aborted: () => new SocxError('aborted', `connecting to ${host}:${port} was cancelled`),
    failed: (error) => error,
  });
}

/** What a wait for a socket rejects with, in each way it can fail. */
export interface SocketWaitErrors {
  timeout(): unknown;
  aborted(): unknown;
  failed(error: Error): unknown;
}

/** Resolves once `socket` emits `event` ('connect', or TLS's 'secureConnect'); on error, timeout or abort
 * destroys it and rejects with the matching error. */
export function awaitSocket<S extends Socket>(socket: S, event: 'connect' | 'secureConnect', { timeoutMs, signal }: DialOptions, errors: SocketWaitErrors): Promise<S> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(errors.timeout()), timeoutMs);
    const onAbort = (): void => fail(errors.aborted());
    const onError = (error: Error): void => fail(errors.failed(error));
    function cleanup(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off(event, succeed);
    }
    function fail(error: unknown): void {
      cleanup();
      socket.destroy();
      reject(error);
    }
    function succeed(): void {
      cleanup();
      resolve(socket);
    }
    socket.once(event, succeed);
    socket.once('error', onError);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function dialErrorText(error: unknown): string {
  if (error instanceof SocxError) return error.message;
  return socketErrorText(errnoCode(error));
}

/** Local addresses for outgoing traffic (serve --egress), one per family; a family without one lets the
 * system choose. */
export interface Egress {
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
}

export function egressFor(egress: Egress | undefined, ip: string): string | undefined {
  return isIP(ip) === 6 ? egress?.ipv6 : egress?.ipv4;
}
