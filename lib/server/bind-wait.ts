import { createServer, type Server, type Socket } from 'node:net';

/** What a BIND client sends before its peer arrives belongs to the peer; we keep up to this much of it. Past
 * the cap the control connection is paused (its EOF then goes unseen, and the BIND timer ends the wait). */
const MAX_EARLY_BYTES = 64 * 1024;

export type WaitOutcome =
  /** `early`: bytes the client sent while it waited, to be delivered to the peer first. */
  | { readonly kind: 'peer'; readonly peer: Socket; readonly early: Buffer }
  | { readonly kind: 'timeout' }
  /** The client sent EOF: nobody is left to relay to (it may still read our failure reply). */
  | { readonly kind: 'client-ended' }
  | { readonly kind: 'client-failed'; readonly error: Error }
  /** `clientGone`: the signal fired because the client's connection closed (not because the server stops). */
  | { readonly kind: 'aborted'; readonly clientGone: boolean }
  | { readonly kind: 'listener-failed'; readonly error: Error };

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/** A listening socket on `host`, on a port the system picks; rejects with the socket error. */
export function listenOnce(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function listeningPort(server: Server): number {
  const address = server.address();
  return address && typeof address === 'object' ? address.port : 0;
}

/**
 * Waits for the one inbound connection BIND is for (RFC 1928 §4), while watching the client's control
 * connection: its EOF, its failure, the signal or the timer end the wait instead. Whatever the outcome, the
 * listener is closed before this resolves, so the port is free again (and a second connection is never
 * accepted); the control connection is left paused with no listeners of ours.
 */
export function waitForPeer(listener: Server, control: Socket, { timeoutMs, signal }: WaitOptions): Promise<WaitOutcome> {
  return new Promise((resolve) => {
    const early: Buffer[] = [];
    let earlyBytes = 0;
    let settled = false;

    const finish = (outcome: WaitOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      listener.off('connection', onConnection);
      listener.off('error', onListenerError);
      // Connections still in the backlog are reset when the listening socket closes.
      listener.on('connection', (extra: Socket) => extra.destroy());
      listener.on('error', () => {});
      listener.close();
      control.off('data', onData);
      control.off('end', onEnd);
      control.off('error', onControlError);
      control.pause();
      resolve(outcome);
    };

    const onConnection = (peer: Socket): void => {
      // An error before the relay takes the socket over must not crash the server; the relay sees the close.
      peer.on('error', () => {});
      finish({ kind: 'peer', peer, early: Buffer.concat(early, earlyBytes) });
    };
    const onListenerError = (error: Error): void => finish({ kind: 'listener-failed', error });
    const onData = (chunk: Buffer): void => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes >= MAX_EARLY_BYTES) control.pause();
    };
    const onEnd = (): void => finish({ kind: 'client-ended' });
    const onControlError = (error: Error): void => finish({ kind: 'client-failed', error });
    const onAbort = (): void => finish({ kind: 'aborted', clientGone: control.destroyed });
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);

    listener.on('connection', onConnection);
    listener.on('error', onListenerError);
    // Reading the control connection is how its EOF becomes visible; TCP has no other way to tell.
    control.on('data', onData);
    control.on('end', onEnd);
    control.on('error', onControlError);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    else control.resume();
  });
}
