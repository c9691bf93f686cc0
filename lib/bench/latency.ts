import type { Socket } from 'node:net';
import { SocxError } from '../errors.ts';
import type { BenchPath } from './paths.ts';

export interface LatencySpec {
  readonly messages: number;
  readonly messageSize: number;
}

/** Round trips not recorded first, so that connection setup and a cold relay do not count. */
const WARMUP = 20;

/** One connection to the echo target; `messages` times: send `messageSize` bytes, wait until all of them are
 * back. Resolves with each round trip in milliseconds. */
export async function measureRoundTrips(path: BenchPath, spec: LatencySpec): Promise<number[]> {
  const { socket, head } = await path.open('echo');
  try {
    if (head.length > 0) throw new SocxError('protocol', 'echo target spoke first');
    const pinger = new Pinger(socket, Buffer.alloc(spec.messageSize, 0x3f));
    for (let i = 0; i < Math.min(WARMUP, spec.messages); i++) await pinger.roundTrip();
    const samples: number[] = [];
    for (let i = 0; i < spec.messages; i++) {
      const begun = performance.now();
      await pinger.roundTrip();
      samples.push(performance.now() - begun);
    }
    return samples;
  } finally {
    socket.destroy();
  }
}

class Pinger {
  readonly #socket: Socket;
  readonly #message: Buffer;
  #awaited = 0;
  #waiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #failure: Error | undefined;

  constructor(socket: Socket, message: Buffer) {
    this.#socket = socket;
    this.#message = message;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#awaited -= chunk.length;
      if (this.#awaited <= 0) this.#settle();
    });
    socket.on('error', (error) => this.#settle(new SocxError('network', `round trip failed: ${error.message}`, { cause: error })));
    socket.on('close', () => this.#settle(new SocxError('network', 'the echo connection closed early')));
    socket.resume();
  }

  roundTrip(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#awaited = this.#message.length;
      this.#socket.write(this.#message);
    });
  }

  #settle(error?: Error): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (error) this.#failure ??= error;
    if (!waiter) return;
    if (error) waiter.reject(error);
    else waiter.resolve();
  }
}
