import { connect, type Socket } from 'node:net';
import type { Dial } from '../dial.ts';
import { SocxError } from '../errors.ts';

/**
 * The generator's sockets read into one preallocated buffer (net's `onread`) instead of a new Buffer per read,
 * which about doubles what one event loop can receive. Until a counter is set, each read is copied out and
 * emitted as 'data', so the SOCKS client's handshake code works unchanged; once it is, reads are only counted.
 * One buffer serves every socket: a read's callback runs to its end before the next read begins.
 */
const readBuffer = Buffer.alloc(1024 * 1024);
const counters = new WeakMap<Socket, (bytes: number) => void>();

/** Calls `count` with the size of each read from now on, instead of emitting 'data'. Sockets that do not come
 * from `dialCounting` fall back to 'data' events. */
export function countReads(socket: Socket, count: (bytes: number) => void): void {
  if (counters.has(socket)) counters.set(socket, count);
  else socket.on('data', (chunk: Buffer) => count(chunk.length));
}

/** Like dialTcp (allowHalfOpen, no Nagle, a time limit), with the counting read path. */
export const dialCounting: Dial = (host, port, { timeoutMs, signal }) =>
  new Promise((resolve, reject) => {
    const socket: Socket = connect({
      host, port, allowHalfOpen: true, noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          const count = counters.get(socket);
          if (count !== emit) count?.(bytes);
          else socket.emit('data', Buffer.from(buffer.subarray(0, bytes)));
          return true;
        },
      },
    });
    counters.set(socket, emit);
    const timer = setTimeout(() => fail(new SocxError('timeout', `connecting to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => fail(new SocxError('aborted', `connecting to ${host}:${port} was cancelled`));
    function cleanup(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      socket.off('connect', succeed);
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
    socket.once('connect', succeed);
    socket.once('error', fail);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Marks "emit as 'data'" in the counters map. */
function emit(): void {}
