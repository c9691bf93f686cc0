import type { Socket } from 'node:net';
import { SocxError } from '../errors.ts';
import { countReads } from './counting-socket.ts';
import type { BenchPath } from './paths.ts';

export interface LatencySpec {
  readonly messages: number;
  readonly messageSize: number;
  /** Limit on each round trip: a proxy that swallows data fails the run instead of hanging it. */
  readonly timeoutMs: number;
}

/** Round trips not recorded first, so that connection setup and a cold relay do not count. */
const WARMUP = 20;
const messages = new Map<number, Buffer>();

/** One connection to the echo target; `messages` times: send `messageSize` bytes, wait until all of them are
 * back. Resolves with each round trip in milliseconds. The loop runs in the read callback itself (the next
 * message leaves as soon as the last byte of this one is in), with no promise or timer per round trip. */
export async function measureRoundTrips(path: BenchPath, spec: LatencySpec, signal?: AbortSignal): Promise<number[]> {
  const { socket, head } = await path.open('echo', signal);
  try {
    if (head.length > 0) throw new SocxError('protocol', 'echo target spoke first');
    return await roundTrips(socket, spec, signal);
  } finally {
    socket.destroy();
  }
}

function roundTrips(socket: Socket, spec: LatencySpec, signal: AbortSignal | undefined): Promise<number[]> {
  let message = messages.get(spec.messageSize);
  if (!message) messages.set(spec.messageSize, message = Buffer.alloc(spec.messageSize, 0x3f));
  const samples = new Float64Array(spec.messages);
  const total = Math.min(WARMUP, spec.messages) + spec.messages;
  return new Promise((resolve, reject) => {
    let sent = 0;
    let awaited = 0;
    let begun = 0;
    let lastProgress = performance.now();
    const finish = (error?: Error): void => {
      clearInterval(watchdog);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (error) reject(error);
      else resolve(Array.from(samples));
    };
    const send = (): void => {
      sent++;
      awaited = message.length;
      begun = performance.now();
      socket.write(message);
    };
    countReads(socket, (bytes) => {
      awaited -= bytes;
      if (awaited > 0) return;
      const now = performance.now();
      lastProgress = now;
      const index = sent - (total - spec.messages) - 1;
      if (index >= 0) samples[index] = now - begun;
      if (sent < total) send();
      else finish();
    });
    const onError = (error: Error): void => finish(new SocxError('network', `round trip failed: ${error.message}`, { phase: 'relay', cause: error }));
    const onClose = (): void => finish(new SocxError('network', 'the echo connection closed early', { phase: 'relay' }));
    const onAbort = (): void => finish(new SocxError('aborted', 'cancelled'));
    const watchdog = setInterval(() => {
      if (performance.now() - lastProgress > spec.timeoutMs) finish(new SocxError('timeout', `no echo within ${spec.timeoutMs} ms`, { phase: 'relay' }));
    }, Math.min(250, spec.timeoutMs));
    socket.on('error', onError);
    socket.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.resume();
    send();
  });
}
