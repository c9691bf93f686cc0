import { connect, type Socket } from 'node:net';
import { awaitConnect, type Dial } from '../dial.ts';

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
export const dialCounting: Dial = (host, port, options) => {
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
  return awaitConnect(socket, host, port, options);
};

/** Marks "emit as 'data'" in the counters map. */
function emit(): void {}
