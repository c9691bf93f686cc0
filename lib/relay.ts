import type { Duplex } from 'node:stream';
import { errnoCode } from './errors.ts';

export type RelayEndReason = 'completed' | 'idle-timeout' | 'reset' | 'error' | 'closed' | 'aborted';

export interface RelayResult {
  /** Bytes from `a` to `b` (client to upstream, for a proxy). */
  readonly bytesAToB: number;
  readonly bytesBToA: number;
  readonly reason: RelayEndReason;
  readonly error: Error | undefined;
  /** The side whose error or early close ended the relay ('reset', 'error', 'closed'): a caller can tell its
   * own end (a closed stdout) from the remote's. */
  readonly side: 'a' | 'b' | undefined;
}

export interface RelayOptions {
  /** End both sides when neither sent a byte for this long; 0 disables. */
  readonly idleTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Bytes `a` sent before the relay started (read during a handshake), delivered to `b` first. */
  readonly headA?: Uint8Array | undefined;
  /** Likewise for `b`, delivered to `a` first. */
  readonly headB?: Uint8Array | undefined;
}

/**
 * Relays bytes both ways until both directions have ended (or an error, a reset, the idle timer or the
 * signal stops it). Both streams must be created with allowHalfOpen: an EOF from one side ends only the other
 * side's writing. Backpressure: when a write is refused, the reader pauses until the writer drains, so at
 * most about one high-water mark per direction is ever buffered. Chunks are passed through as they are read:
 * no copies, no allocation per chunk.
 */
export function relay(a: Duplex, b: Duplex, options: RelayOptions = {}): Promise<RelayResult> {
  return new Promise((resolve) => {
    let bytesAToB = 0;
    let bytesBToA = 0;
    let finished = 0;
    let settled = false;
    let idleTimer: NodeJS.Timeout | undefined;

    const settle = (reason: RelayEndReason, error?: Error, side?: 'a' | 'b'): void => {
      if (settled) return;
      settled = true;
      if (idleTimer) clearTimeout(idleTimer);
      options.signal?.removeEventListener('abort', onAbort);
      a.destroy();
      b.destroy();
      resolve({ bytesAToB, bytesBToA, reason, error, side });
    };

    const onErrorOf = (side: 'a' | 'b') => (error: Error): void => {
      settle(errnoCode(error) === 'ECONNRESET' || errnoCode(error) === 'EPIPE' ? 'reset' : 'error', error, side);
    };
    // A side that ended both ways closes on its own, possibly before the other direction has drained.
    const onCloseOf = (stream: Duplex, side: 'a' | 'b') => (): void => {
      if (!(stream.readableEnded && stream.writableFinished)) settle('closed', undefined, side);
    };
    const onAbort = (): void => settle('aborted');

    const pump = (src: Duplex, dst: Duplex, count: (n: number) => void, onDone: () => void): void => {
      src.on('data', (chunk: Buffer) => {
        count(chunk.length);
        if (!dst.write(chunk)) src.pause();
      });
      dst.on('drain', () => src.resume());
      const endDst = (): void => { dst.end(onDone); };
      if (src.readableEnded) endDst();
      else src.on('end', endDst);
    };

    const directionDone = (): void => {
      finished++;
      if (finished === 2) settle('completed');
    };

    for (const [stream, side] of [[a, 'a'], [b, 'b']] as const) {
      stream.on('error', onErrorOf(side));
      stream.on('close', onCloseOf(stream, side));
    }
    if (options.headA && options.headA.length > 0) {
      bytesAToB += options.headA.length;
      b.write(options.headA);
    }
    if (options.headB && options.headB.length > 0) {
      bytesBToA += options.headB.length;
      a.write(options.headB);
    }
    pump(a, b, (n) => { bytesAToB += n; }, directionDone);
    pump(b, a, (n) => { bytesBToA += n; }, directionDone);

    if (options.signal) {
      if (options.signal.aborted) return settle('aborted');
      options.signal.addEventListener('abort', onAbort, { once: true });
    }
    const idleMs = options.idleTimeoutMs ?? 0;
    if (idleMs > 0) {
      // One timer per relay, re-armed per idle period rather than per chunk: a relay is declared idle after
      // between one and two periods without traffic.
      let lastTotal = -1;
      const check = (): void => {
        const total = bytesAToB + bytesBToA;
        if (total === lastTotal) return settle('idle-timeout');
        lastTotal = total;
        idleTimer = setTimeout(check, idleMs).unref();
      };
      check();
    }
    a.resume();
    b.resume();
  });
}
