import type { Socket } from 'node:net';
import { SocxError } from '../errors.ts';
import type { BenchPath } from './paths.ts';

export interface ConnectionRateSpec {
  readonly concurrency: number;
  readonly durationMs: number;
}

export interface ConnectionRateResult {
  readonly connections: number;
  readonly failures: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Per connection, from the start of the TCP connect to the proxy's grant (direct: to the TCP connect). */
  readonly handshakeMs: number[];
  /** Per connection, from the start of the TCP connect to the first byte echoed back through it. */
  readonly firstByteMs: number[];
  /** The first failure, to say what went wrong. */
  readonly firstError: unknown;
}

const PING = Buffer.from([0x2a]);

/**
 * `concurrency` loops, each opening a connection to the ping target (TCP connect, SOCKS handshake), sending
 * one byte, waiting for it to come back and for the target to close, over and over until the time is up. The
 * rate counts completed connections over the time until the last one finished.
 */
export async function measureConnectionRate(path: BenchPath, spec: ConnectionRateSpec): Promise<ConnectionRateResult> {
  const handshakeMs: number[] = [];
  const firstByteMs: number[] = [];
  let failures = 0;
  let firstError: unknown;
  const start = performance.now();
  const deadline = start + spec.durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        const { socket, head } = await path.open('ping');
        const granted = performance.now();
        const echoed = await pingOnce(socket, head);
        handshakeMs.push(granted - begun);
        firstByteMs.push(echoed - begun);
      } catch (error) {
        failures++;
        firstError ??= error;
        // A refusing proxy must not turn this into a busy loop.
        if (failures > handshakeMs.length + 100) return;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, loop));
  const seconds = (performance.now() - start) / 1000;
  const connections = handshakeMs.length;
  return { connections, failures, seconds, perSecond: connections / seconds, handshakeMs, firstByteMs, firstError };
}

/** Sends a byte, notes when it comes back, and resolves with that time once the far end has closed: closing
 * second leaves no TIME_WAIT on our ephemeral port. */
function pingOnce(socket: Socket, head: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    let echoed = head.length > 0 ? performance.now() : 0;
    const done = (error?: Error): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve(echoed);
    };
    socket.on('data', () => { echoed ||= performance.now(); });
    socket.once('end', () => done(echoed ? undefined : new SocxError('network', 'connection closed before the byte came back')));
    socket.once('error', (error) => done(error));
    socket.once('close', () => done(new SocxError('network', 'connection closed before the byte came back')));
    socket.write(PING);
    socket.resume();
  });
}
