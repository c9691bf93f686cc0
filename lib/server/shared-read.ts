import { Socket } from 'node:net';

/**
 * Read buffers shared by every relayed socket. Node allocates a fresh Buffer for each read of a normal socket
 * (16,384 allocations per GiB at 64 KiB, and the GC time that follows); a socket built with the `onread`
 * option reads into a buffer we give it instead. `net.connect` takes that option; accepted sockets cannot be
 * given it in Node 24, so `readIntoShared` sets the same internal fields the option sets (found by their
 * symbols' descriptions on a socket that was given the option) while the accepted socket is still paused.
 * Where they are missing, `sharedReadSupported` is false and callers use 'data' events.
 *
 * The catch: a write that does not complete at once keeps a pointer into the buffer it was given, and the
 * next read into that buffer would overwrite those bytes before the kernel takes them. So when a write from a
 * shared region is left pending, its unwritten tail is copied aside (`guard`), and the region stops being
 * handed out: sockets are given a region without guards for their next read (Node asks after every read).
 * A socket that still points at a guarded region and reads over the guarded range moves its own bytes out to
 * a fresh buffer and puts the guarded bytes back before anything else runs — reads and the event loop's
 * writes never interleave inside one read callback, so the kernel only ever sees the original bytes.
 */

export type SharedReadCallback = (this: Socket, nread: number, buffer: Buffer) => boolean;

interface TcpHandle {
  reading: boolean;
  readonly writeQueueSize: number;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
}

export const SHARED_BUFFER_SIZE = 256 * 1024;
/** Regions kept at most; past that, a guarded region is handed out again (and its reads copied). */
const MAX_REGIONS = 16;

interface Guard { readonly region: Region; readonly start: number; readonly end: number; readonly saved: Buffer }
interface Region { readonly buffer: Buffer; readonly guards: Guard[] }

const regions: Region[] = [];
const regionOf = new Map<ArrayBufferLike, Region>();
let current = addRegion();

function addRegion(): Region {
  const region: Region = { buffer: Buffer.allocUnsafeSlow(SHARED_BUFFER_SIZE), guards: [] };
  regions.push(region);
  regionOf.set(region.buffer.buffer, region);
  return region;
}

/** The buffer a socket reads into next: the current region while it has no guards. */
function nextBuffer(): Buffer {
  if (current.guards.length > 0) current = regions.find((region) => region.guards.length === 0) ?? (regions.length < MAX_REGIONS ? addRegion() : current);
  return current.buffer;
}

function internalSymbols(): { kBuffer: symbol; kBufferCb: symbol; kBufferGen: symbol } | undefined {
  const probe = new Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } });
  const symbols = Object.getOwnPropertySymbols(probe);
  probe.destroy();
  const find = (name: string): symbol | undefined => symbols.find((symbol) => symbol.description === name);
  const kBuffer = find('kBuffer');
  const kBufferCb = find('kBufferCb');
  const kBufferGen = find('kBufferGen');
  return kBuffer && kBufferCb && kBufferGen ? { kBuffer, kBufferCb, kBufferGen } : undefined;
}

const symbols = internalSymbols();

function handleOf(socket: Socket): TcpHandle | undefined {
  const handle = (socket as unknown as { _handle?: Partial<TcpHandle> | null })._handle;
  if (!handle || typeof handle.readStart !== 'function' || typeof handle.readStop !== 'function') return undefined;
  return handle as TcpHandle;
}

export const sharedReadSupported = symbols !== undefined;

/** Switches a paused accepted socket (pauseOnConnect) to shared-buffer reads; false when it cannot. */
export function readIntoShared(socket: Socket, callback: SharedReadCallback): boolean {
  const handle = handleOf(socket);
  if (!symbols || !handle || typeof handle.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  const first = nextBuffer();
  fields[symbols.kBuffer] = first;
  fields[symbols.kBufferCb] = callback;
  fields[symbols.kBufferGen] = nextBuffer;
  handle.useUserBuffer(first);
  return true;
}

/** The `onread` option for outgoing sockets (public API): the same regions and callback. */
export function sharedOnread(callback: SharedReadCallback): { buffer: () => Buffer; callback: (nread: number, buffer: Buffer) => boolean } {
  return { buffer: nextBuffer, callback: callback as (nread: number, buffer: Buffer) => boolean };
}

/** Starts or stops reads on a socket in shared mode. Returning false from the read callback stops them
 * too (Node then calls readStop itself); `isPaused()` does not reflect either, so callers keep their own flag. */
export function startReads(socket: Socket): void {
  const handle = handleOf(socket);
  if (!handle || handle.reading || socket.destroyed) return;
  handle.reading = true;
  const error = handle.readStart();
  if (error) socket.destroy();
}

export function stopReads(socket: Socket): void {
  const handle = handleOf(socket);
  if (!handle || !handle.reading) return;
  handle.reading = false;
  handle.readStop();
}

/** Bytes a socket's handle still holds for writing (libuv's queue), or the Writable's count without one. */
export function pendingWriteBytes(socket: Socket): number {
  return handleOf(socket)?.writeQueueSize ?? socket.writableLength;
}

/** Protects the unwritten tail of `chunk` (a view of a region), `length` bytes, until `release`. */
export function guard(chunk: Buffer, length: number): Guard | undefined {
  const region = regionOf.get(chunk.buffer);
  if (!region) return undefined;
  const end = chunk.byteOffset + chunk.length;
  const start = end - Math.min(length, chunk.length);
  const entry: Guard = { region, start, end, saved: Buffer.from(region.buffer.subarray(start, end)) };
  region.guards.push(entry);
  return entry;
}

export function release(entry: Guard | undefined): void {
  if (!entry) return;
  const { guards } = entry.region;
  const index = guards.indexOf(entry);
  if (index >= 0) guards.splice(index, 1);
}

export type { Guard };

/** Called first thing in a read callback with the bytes just read into a region: when they cover a guarded
 * range, returns them moved to a fresh buffer and restores the guarded bytes; else a view of the region. */
export function takeRead(buffer: Buffer, nread: number): Buffer {
  const region = regionOf.get(buffer.buffer);
  if (!region) return buffer.subarray(0, nread);
  for (const entry of region.guards) {
    if (nread > entry.start) {
      const own = Buffer.from(buffer.subarray(0, nread));
      for (const restore of region.guards) restore.saved.copy(buffer, restore.start);
      return own;
    }
  }
  return buffer.subarray(0, nread);
}

/** Whether `chunk` is a view of a shared region (a write from it may need a guard). */
export function inRegion(chunk: Buffer): boolean {
  return regionOf.has(chunk.buffer);
}
