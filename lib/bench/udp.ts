import dgram from 'node:dgram';
import { maxUdpPayload, openUdpSession } from '../client/udp.ts';
import type { ProxyConfig } from '../client/proxy-url.ts';
import { SocxError } from '../errors.ts';
import { percentiles, type Percentiles } from './stats.ts';

/** A way to exchange datagrams with the UDP echo target: directly, or through a proxy's UDP ASSOCIATE. */
export interface UdpChannel {
  /** `payload` must stay unchanged until sent (the generator rotates through a ring of buffers). */
  send(payload: Buffer): void;
  onReply(listener: (payload: Buffer) => void): void;
  close(): void;
}

export async function directUdp(host: string, port: number): Promise<UdpChannel> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // A lost datagram is what this measures; a send error (ECONNREFUSED from an earlier ICMP) is one too.
  socket.on('error', () => {});
  return {
    send: (payload) => socket.send(payload),
    onReply: (listener) => socket.on('message', listener),
    close: () => socket.close(),
  };
}

export async function proxiedUdp(proxy: ProxyConfig, target: { host: string; port: number }, timeoutMs: number, signal?: AbortSignal): Promise<UdpChannel> {
  const session = await openUdpSession({ proxy, timeoutMs, signal });
  const address = { type: 'ipv4', host: target.host, port: target.port } as const;
  return {
    send: (payload) => session.send(address, payload, () => {}),
    onReply: (listener) => session.onDatagram(listener),
    close: () => session.close(),
  };
}

export interface UdpSpec {
  readonly payloadBytes: number;
  readonly durationMs: number;
  /** Datagrams kept in flight while measuring the rate. */
  readonly window: number;
  /** Round trips, one datagram at a time, for the latency percentiles. */
  readonly roundTrips: number;
}


export interface UdpResult {
  readonly payloadBytes: number;
  /** Datagrams echoed back per second; each crossed the relay twice. */
  readonly datagramsPerSec: number;
  /** Payload bytes echoed back per second, 10^6 bytes. */
  readonly MBps: number;
  readonly sent: number;
  readonly received: number;
  /** Of the datagrams sent at the rate, the share that never came back. */
  readonly lossRatio: number;
  /** One datagram in flight at a time; a datagram lost there is not a sample. */
  readonly rttMs: Percentiles;
}

/** What a datagram carries first: its sequence number, to match the echo to its send time. */
const SEQUENCE_BYTES = 4;
export const MIN_UDP_PAYLOAD = SEQUENCE_BYTES;
/** What one datagram to an IPv4 target carries through a SOCKS5 relay at most. */
export const MAX_BENCH_UDP_PAYLOAD = maxUdpPayload({ type: 'ipv4', host: '127.0.0.1', port: 1 });
/** Buffers the generator rotates through; a datagram is matched to its send time only among the last RING. */
export const RING_SIZE = 1024;
const RING = RING_SIZE;
/** With no echo for this long, the window is presumed lost and sent anew (and counted as loss). */
const REFILL_MS = 20;
/** After the last send, echoes still on their way are awaited this long. */
const GRACE_MS = 100;
/** A round trip of the latency phase is given up (lost) after this long. */
const ROUND_TRIP_LIMIT_MS = 100;

/**
 * The rate phase keeps `window` datagrams in flight for `durationMs`, sending one more for each echo; then the
 * latency phase sends `roundTrips` datagrams one at a time. Every timer is bounded: a relay that drops
 * everything yields a loss of 1 and no round trips, never a hang.
 */
export async function measureUdp(channel: UdpChannel, spec: UdpSpec, signal?: AbortSignal): Promise<UdpResult> {
  const ring = Array.from({ length: RING }, () => Buffer.alloc(spec.payloadBytes, 0x75));
  const sentAt = new Float64Array(RING);
  let sequence = 0;
  const send = (): void => {
    const slot = sequence % RING;
    const payload = ring[slot]!;
    payload.writeUInt32BE(sequence, 0);
    sentAt[slot] = performance.now();
    sequence++;
    channel.send(payload);
  };
  /** The round trip of a reply, or undefined if it is not one of the last RING sent. */
  const roundTrip = (payload: Buffer): number | undefined => {
    if (payload.length !== spec.payloadBytes) return undefined;
    const number = payload.readUInt32BE(0);
    return number < sequence && sequence - number <= RING ? performance.now() - sentAt[number % RING]! : undefined;
  };
  let onReply: (payload: Buffer) => void = () => {};
  channel.onReply((payload) => onReply(payload));
  const aborted = (): boolean => signal?.aborted === true;

  // The rate.
  let received = 0;
  let running = true;
  let lastReply = performance.now();
  onReply = (payload) => {
    if (roundTrip(payload) === undefined) return;
    received++;
    lastReply = performance.now();
    if (running) send();
  };
  const begun = performance.now();
  for (let i = 0; i < spec.window; i++) send();
  await waitUntil(() => !running || aborted(), spec.durationMs, () => {
    if (performance.now() - lastReply > REFILL_MS) {
      lastReply = performance.now();
      for (let i = 0; i < spec.window; i++) send();
    }
  });
  running = false;
  const seconds = (performance.now() - begun) / 1000;
  const sent = sequence;
  await delay(GRACE_MS);
  const echoed = received;

  // The latency, one at a time: the next datagram leaves from the echo's callback, or when this one is given up.
  const samples: number[] = [];
  let trips = 0;
  // A relay that echoed nothing at the rate has no latency to give; one that loses much must not stretch this
  // phase beyond the run's duration.
  const latencyEnd = performance.now() + spec.durationMs;
  if (echoed > 0) await new Promise<void>((resolve) => {
    const next = (): void => {
      if (trips++ >= spec.roundTrips || aborted() || performance.now() > latencyEnd) {
        clearInterval(watchdog);
        onReply = () => {};
        return resolve();
      }
      send();
    };
    onReply = (payload) => {
      const ms = roundTrip(payload);
      if (ms === undefined || payload.readUInt32BE(0) !== sequence - 1) return;
      samples.push(ms);
      next();
    };
    const watchdog = setInterval(() => {
      if (performance.now() - sentAt[(sequence - 1) % RING]! > ROUND_TRIP_LIMIT_MS) next();
    }, ROUND_TRIP_LIMIT_MS / 4);
    next();
  });
  if (aborted()) throw new SocxError('aborted', 'cancelled');
  const datagramsPerSec = echoed / seconds;
  return {
    payloadBytes: spec.payloadBytes,
    datagramsPerSec,
    MBps: (datagramsPerSec * spec.payloadBytes) / 1e6,
    sent,
    received: echoed,
    lossRatio: sent === 0 ? 1 : Math.max(0, 1 - echoed / sent),
    rttMs: percentiles(samples),
  };
}

const TICK_MS = 5;

/** Resolves once `done()` holds (checked every few ms, with `tick` run each time) or after `limitMs`. */
function waitUntil(done: () => boolean, limitMs: number, tick?: () => void): Promise<void> {
  const end = performance.now() + limitMs;
  return new Promise((resolve) => {
    const check = (): void => {
      if (done() || performance.now() >= end) {
        clearInterval(timer);
        resolve();
      } else {
        tick?.();
      }
    };
    const timer = setInterval(check, Math.min(TICK_MS, limitMs));
    check();
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
