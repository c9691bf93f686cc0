import { createServer, type Server, type Socket } from 'node:net';

/** What a BIND client sends before its peer arrives belongs to the peer; we keep up to this much of it. Past
 * the cap the control connection is paused (its EOF then goes unseen, and the BIND timer ends the wait). */
const MAX_EARLY_BYTES = 64 * 1024;

export type WaitOutcome<P = Socket> =
  /** `early`: bytes the client sent while it waited, to be delivered to the peer first. */
  | { readonly kind: 'peer'; readonly peer: P; readonly early: Buffer }
  | { readonly kind: 'timeout' }
  /** The client sent EOF: nobody is left to relay to (it may still read our failure reply). */
  | { readonly kind: 'client-ended' }
  | { readonly kind: 'client-failed'; readonly error: Error }
  /** `clientGone`: the signal fired because the client's connection closed (not because the server stops). */
  | { readonly kind: 'aborted'; readonly clientGone: boolean }
  /** Our listening socket failed, or the upstream that listens for us refused or broke. */
  | { readonly kind: 'listener-failed'; readonly error: unknown };

/** Where BIND's peer comes from: our own listening socket, or an upstream proxy's second reply. */
export interface PeerSource<P> {
  /** Starts waiting; calls one of the two at most once. */
  start(onPeer: (peer: P) => void, onError: (error: unknown) => void): void;
  /** The wait is over, whatever its outcome: free the port; a peer that arrives later is dropped. */
  stop(): void;
}

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

/** Our own listening socket as BIND's source of peers: the first connection, and no second one. */
export function listenerSource(listener: Server): PeerSource<Socket> {
  let onConnection: ((peer: Socket) => void) | undefined;
  let onError: ((error: Error) => void) | undefined;
  return {
    start(onPeer, fail) {
      onConnection = (peer: Socket): void => {
        // An error before the relay takes the socket over must not crash the server; the relay sees the close.
        peer.on('error', () => {});
        onPeer(peer);
      };
      onError = fail;
      listener.on('connection', onConnection);
      listener.on('error', onError);
    },
    stop() {
      if (onConnection) listener.off('connection', onConnection);
      if (onError) listener.off('error', onError);
      // Connections still in the backlog are reset when the listening socket closes.
      listener.on('connection', (extra: Socket) => extra.destroy());
      listener.on('error', () => {});
      listener.close();
    },
  };
}

/**
 * Waits for the one inbound connection BIND is for (RFC 1928 §4), while watching the client's control
 * connection: its EOF, its failure, the signal or the timer end the wait instead. Whatever the outcome, the
 * source is stopped before this resolves, so the port is free again (and a second connection is never
 * accepted); the control connection is left paused with no listeners of ours.
 */
export function waitForPeer<P>(source: PeerSource<P>, control: Socket, { timeoutMs, signal }: WaitOptions): Promise<WaitOutcome<P>> {
  return new Promise((resolve) => {
    const early: Buffer[] = [];
    let earlyBytes = 0;
    let settled = false;

    const finish = (outcome: WaitOutcome<P>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      source.stop();
      control.off('data', onData);
      control.off('end', onEnd);
      control.off('error', onControlError);
      control.pause();
      resolve(outcome);
    };

    const onPeer = (peer: P): void => finish({ kind: 'peer', peer, early: Buffer.concat(early, earlyBytes) });
    const onSourceError = (error: unknown): void => finish({ kind: 'listener-failed', error });
    const onData = (chunk: Buffer): void => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes >= MAX_EARLY_BYTES) control.pause();
    };
    const onEnd = (): void => finish({ kind: 'client-ended' });
    const onControlError = (error: Error): void => finish({ kind: 'client-failed', error });
    const onAbort = (): void => finish({ kind: 'aborted', clientGone: control.destroyed });
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);

    source.start(onPeer, onSourceError);
    // Reading the control connection is how its EOF becomes visible; TCP has no other way to tell.
    control.on('data', onData);
    control.on('end', onEnd);
    control.on('error', onControlError);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    else control.resume();
  });
}
