import { SocxError } from '../errors.ts';
import { countReads } from './counting-socket.ts';
import type { BenchPath, Opened } from './paths.ts';
import { MAX_BLOCK_BYTES, SINK_HEADER_BYTES, SOURCE_HEADER_BYTES } from './targets.ts';

export type Direction = 'upload' | 'download';

export interface ThroughputSpec {
  /** upload: to the sink; download: from the source. */
  readonly direction: Direction;
  readonly streams: number;
  /** Bytes in all, shared among the streams; undefined means: send for `durationMs`. */
  readonly bytes: number | undefined;
  readonly durationMs: number;
  /** A stream that moves no byte for this long fails (a proxy that swallows data): no run can hang. */
  readonly timeoutMs: number;
}

export interface ThroughputResult {
  readonly bytes: number;
  readonly seconds: number;
  /** 10^6 bytes per second. */
  readonly MBps: number;
}

interface StreamPlan {
  readonly blockSize: number;
  /** Blocks per stream; 0 with a deadline. */
  readonly blocks: number;
  readonly deadline: number | undefined;
}

interface StreamResult {
  readonly bytes: number;
  readonly end: number;
}

const BLOCK_BYTES = 1024 * 1024;
const STOP = Buffer.from([0x2e]);
const blocks = new Map<number, Buffer>();

/**
 * Bytes through `streams` parallel connections, from the first write until the last byte has arrived: for an
 * upload, the sink's acknowledgement of the last block; for a download, the source's end of stream. The
 * connections (and SOCKS handshakes) are set up before the clock starts.
 */
export async function measureThroughput(path: BenchPath, spec: ThroughputSpec, signal?: AbortSignal): Promise<ThroughputResult> {
  const target = spec.direction === 'upload' ? 'sink' : 'source';
  const opened = await openAll(Array.from({ length: spec.streams }, () => path.open(target, signal)));
  try {
    const start = performance.now();
    const plan = planStreams(spec, start);
    const run = spec.direction === 'upload' ? upload : download;
    const limits = { timeoutMs: spec.timeoutMs, signal };
    const results = await Promise.all(opened.map((connection) => run(connection, plan, limits)));
    const end = Math.max(...results.map((result) => result.end));
    const bytes = results.reduce((total, result) => total + result.bytes, 0);
    const seconds = (end - start) / 1000;
    return { bytes, seconds, MBps: bytes / seconds / 1e6 };
  } finally {
    for (const { socket } of opened) socket.destroy();
  }
}

/** Every stream's connection, or none: when one fails (or the signal cancels them), those already open are
 * closed before the error goes on. */
async function openAll(opening: readonly Promise<Opened>[]): Promise<Opened[]> {
  const settled = await Promise.allSettled(opening);
  const failed = settled.find((result) => result.status === 'rejected');
  const opened = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  if (!failed) return opened;
  for (const { socket } of opened) socket.destroy();
  throw failed.reason;
}

function planStreams(spec: ThroughputSpec, start: number): StreamPlan {
  if (spec.bytes === undefined) return { blockSize: BLOCK_BYTES, blocks: 0, deadline: start + spec.durationMs };
  // Equal blocks of at most BLOCK_BYTES that add up to the bytes asked for, give or take a few.
  const perStream = Math.ceil(spec.bytes / spec.streams);
  const count = Math.ceil(perStream / Math.min(BLOCK_BYTES, MAX_BLOCK_BYTES));
  return { blockSize: Math.ceil(perStream / count), blocks: count, deadline: undefined };
}

/** The one buffer written again and again: no allocation or copy per write. */
function blockOf(size: number): Buffer {
  let block = blocks.get(size);
  if (!block) {
    block = Buffer.alloc(size, 0xa5);
    blocks.set(size, block);
  }
  return block;
}

interface Limits {
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

interface StreamControl {
  settle(result: StreamResult): void;
  fail(error: Error): void;
  /** Bytes moved: the stream is alive. */
  progress(): void;
}

/** Runs `body` until it settles the stream; a close, an error, `timeoutMs` without progress or the signal
 * before then fails it. */
function stream(connection: Opened, what: string, limits: Limits, body: (control: StreamControl) => void): Promise<StreamResult> {
  const { socket } = connection;
  return new Promise((resolve, reject) => {
    let settled = false;
    let lastProgress = performance.now();
    const stop = (): void => {
      settled = true;
      clearInterval(watchdog);
      limits.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      if (settled) return;
      stop();
      socket.destroy();
      reject(error);
    };
    const settle = (result: StreamResult): void => {
      if (settled) return;
      stop();
      resolve(result);
    };
    const onAbort = (): void => fail(new SocxError('aborted', 'cancelled'));
    const watchdog = setInterval(() => {
      if (performance.now() - lastProgress > limits.timeoutMs) fail(new SocxError('timeout', `${what}: no data moved for ${limits.timeoutMs} ms`, { phase: 'relay' }));
    }, Math.min(250, limits.timeoutMs));
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (error) => fail(new SocxError('network', `${what} failed: ${error.message}`, { phase: 'relay', cause: error })));
    socket.on('close', () => fail(new SocxError('network', `${what}: the connection closed early`, { phase: 'relay' })));
    body({ settle, fail, progress: () => { lastProgress = performance.now(); } });
    socket.resume();
  });
}

function upload(connection: Opened, plan: StreamPlan, limits: Limits): Promise<StreamResult> {
  const { socket } = connection;
  return stream(connection, 'upload', limits, ({ settle, progress }) => {
    const block = blockOf(plan.blockSize);
    let sent = 0;
    let acked = connection.head.length;
    let writing = true;
    const finishIfDone = (): void => {
      if (writing || acked < sent) return;
      const end = performance.now();
      settle({ bytes: sent * plan.blockSize, end });
      socket.end();
    };
    const more = (): boolean => sent === 0 || (plan.deadline === undefined ? sent < plan.blocks : performance.now() < plan.deadline);
    const pump = (): void => {
      while (more()) {
        sent++;
        if (!socket.write(block)) return void socket.once('drain', pump);
      }
      writing = false;
      finishIfDone();
    };
    countReads(socket, (acks) => {
      progress();
      acked += acks;
      finishIfDone();
    });
    const header = Buffer.alloc(SINK_HEADER_BYTES);
    header.writeUInt32BE(plan.blockSize, 0);
    socket.write(header);
    pump();
  });
}

function download(connection: Opened, plan: StreamPlan, limits: Limits): Promise<StreamResult> {
  const { socket } = connection;
  return stream(connection, 'download', limits, ({ settle, fail, progress }) => {
    let received = connection.head.length;
    let timer: NodeJS.Timeout | undefined;
    countReads(socket, (bytes) => {
      progress();
      received += bytes;
    });
    socket.on('end', () => {
      const end = performance.now();
      clearTimeout(timer);
      const expected = plan.blocks * plan.blockSize;
      if (plan.deadline === undefined && received !== expected) return fail(new SocxError('network', `download: received ${received} of ${expected} bytes`, { phase: 'relay' }));
      settle({ bytes: received, end });
    });
    const request = Buffer.alloc(SOURCE_HEADER_BYTES);
    request.writeUInt32BE(plan.blockSize, 0);
    request.writeUInt32BE(plan.blocks, 4);
    socket.write(request);
    if (plan.deadline !== undefined) {
      timer = setTimeout(() => socket.write(STOP), plan.deadline - performance.now());
      socket.once('close', () => clearTimeout(timer));
    }
  });
}
