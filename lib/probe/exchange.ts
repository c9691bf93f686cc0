import type { Socket } from 'node:net';
import type { Dial } from '../dial.ts';
import { dialTcp } from '../dial.ts';
import { errnoCode, socketErrorText } from '../errors.ts';

export type Exchange = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Resumes `socket` (a session's, paused, with `head` already read) and waits for `expected` to arrive whole;
 * with `expected` undefined, for any byte at all. Bounded by `timeoutMs`; a close, an error or other bytes end
 * it early. Leaves the socket paused again.
 */
export function awaitBytes(socket: Socket, head: Buffer, expected: Buffer | undefined, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    let received = head;
    const finish = (result: Exchange): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      socket.pause();
      resolve(result);
    };
    const check = (): void => {
      if (expected === undefined) {
        if (received.length > 0) finish({ ok: true });
        return;
      }
      const have = received.subarray(0, expected.length);
      if (!have.equals(expected.subarray(0, have.length))) finish({ ok: false, reason: `other bytes came back than were sent (${have.toString('hex').slice(0, 32)})` });
      else if (received.length >= expected.length) finish({ ok: true });
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      check();
    };
    const onEnd = (): void => finish({ ok: false, reason: received.length === 0 ? 'the connection closed before any data came back' : `the connection closed after ${received.length} of ${expected?.length ?? 1} bytes came back` });
    const onError = (error: Error): void => finish({ ok: false, reason: `the connection failed: ${socketErrorText(errnoCode(error))}` });
    const timer = setTimeout(() => finish({ ok: false, reason: `no data came back within ${timeoutMs} ms` }), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.on('error', onError);
    check();
    socket.resume();
  });
}

/** A dial that keeps the first bytes the proxy sends (up to 64), to tell a short reply from none at all. */
export function tappedDial(inner: Dial = dialTcp): { readonly dial: Dial; received(): Buffer } {
  let received = Buffer.alloc(0);
  const dial: Dial = async (host, port, options) => {
    const socket = await inner(host, port, options);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]).subarray(0, 64);
      if (received.length >= 64) socket.off('data', onData);
    };
    socket.on('data', onData);
    return socket;
  };
  return { dial, received: () => received };
}
