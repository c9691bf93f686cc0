import type { Socket } from 'node:net';
import { errnoCode } from '../errors.ts';
import { coarseNow } from './sweep.ts';
import { guard, inRegion, release, startReads, stopReads, takeRead, type Guard } from './shared-read.ts';

export type RelayEnd = 'completed' | 'idle-timeout' | 'reset' | 'error' | 'aborted';

/** What the shared socket listeners below find on a socket: the object that owns it. */
export const kOwner = Symbol('socx.owner');
/** Bytes an outgoing socket read before it had an owner (a server that speaks first). */
const kEarly = Symbol('socx.early');

interface Owned { [kOwner]?: SocketOwner; [kEarly]?: Buffer }

export interface SocketOwner {
  /** False stops reads on `socket` until the owner starts them again. */
  onRead(socket: Socket, chunk: Buffer, fromShared: boolean): boolean;
  onEnd(socket: Socket): void;
  onError(socket: Socket, error: Error): void;
  onClose(socket: Socket, hadError: boolean): void;
  /** Everything written to `socket` has been handed to the kernel (after a write was left pending). */
  onDrain(socket: Socket): void;
}

export function ownerOf(socket: Socket): SocketOwner | undefined {
  return (socket as Owned)[kOwner];
}

/** The read callback of every socket in shared-buffer mode; `this` is the socket, as Node calls it. */
export function onSharedRead(this: Socket, nread: number, buffer: Buffer): boolean {
  const chunk = takeRead(buffer, nread);
  const owner = (this as Owned)[kOwner];
  if (owner) return owner.onRead(this, chunk, inRegion(chunk));
  const early = (this as Owned)[kEarly];
  (this as Owned)[kEarly] = early ? Buffer.concat([early, chunk]) : Buffer.from(chunk);
  return false;
}

function onData(this: Socket, chunk: Buffer): void {
  if ((this as Owned)[kOwner]?.onRead(this, chunk, false) === false) this.pause();
}
function onEnd(this: Socket): void { (this as Owned)[kOwner]?.onEnd(this); }
function onError(this: Socket, error: Error): void { (this as Owned)[kOwner]?.onError(this, error); }
function onClose(this: Socket, hadError: boolean): void { (this as Owned)[kOwner]?.onClose(this, hadError); }
function onDrain(this: Socket): void { (this as Owned)[kOwner]?.onDrain(this); }

/** Gives `socket` to `owner`: its events go to the owner's methods, through listeners shared by all
 * sockets (no closures per connection). `shared`: the socket reads into the shared buffer; else 'data'. */
export function adopt(socket: Socket, owner: SocketOwner, shared: boolean): Buffer | undefined {
  const owned = socket as Owned;
  const hadOwner = owned[kOwner] !== undefined;
  owned[kOwner] = owner;
  const early = owned[kEarly];
  owned[kEarly] = undefined;
  if (hadOwner) return early;
  if (!shared) socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.on('drain', onDrain);
  return early;
}

export function resumeReads(socket: Socket, shared: boolean): void {
  if (shared) startReads(socket);
  else socket.resume();
}

export function pauseReads(socket: Socket, shared: boolean): void {
  if (shared) stopReads(socket);
  else socket.pause();
}

/** An abrupt end must not look like a clean one to the peer: a reset, not a FIN. */
export function reset(socket: Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function' && (socket as unknown as { _handle?: unknown })._handle) socket.resetAndDestroy();
  else socket.destroy();
}

/** Asks for 'drain' once the pending writes complete: Writable emits it only after a write() that returned
 * false, and a chunk smaller than the high-water mark returns true even when the kernel did not take it. */
export function notifyWhenWritten(socket: Socket): void {
  const state = (socket as unknown as { _writableState?: { needDrain: boolean } })._writableState;
  if (state) state.needDrain = true;
}

const isReset = (error: Error | undefined): boolean => errnoCode(error) === 'ECONNRESET' || errnoCode(error) === 'EPIPE';

/**
 * Relays two sockets both ways, each direction on its own (half-close carried), until both have closed.
 * Each chunk is written as soon as it is read; when the write is left pending, reads on its source stop until
 * it completes, so at most one chunk per direction is ever held. A reset or error on one side resets the
 * other, so that an abrupt end is never passed on as a clean EOF. Subclassed by the server session: one
 * object per connection.
 */
export abstract class PairRelay implements SocketOwner {
  protected readonly client: Socket;
  protected readonly clientShared: boolean;
  protected upstream: Socket | undefined;
  protected upstreamShared = false;
  bytesUp = 0;
  bytesDown = 0;
  /** Coarse time of the last byte relayed, for the idle sweep. */
  lastActive = 0;
  relaying = false;
  #upGuard: Guard | undefined;
  #downGuard: Guard | undefined;
  #upStopped = false;
  #downStopped = false;
  #clientClosed = false;
  #upstreamClosed = false;
  #end: RelayEnd | undefined;
  #error: Error | undefined;

  constructor(client: Socket, clientShared: boolean) {
    this.client = client;
    this.clientShared = clientShared;
  }

  /** Called once, when both sockets have closed. */
  protected abstract relayEnded(end: RelayEnd, error: Error | undefined): void;

  /** Starts relaying with `upstream` (already adopted by this object), after delivering the bytes each side
   * sent early. */
  protected startRelay(upstream: Socket, upstreamShared: boolean, headUp: Buffer | undefined, headDown: Buffer | undefined): void {
    this.upstream = upstream;
    this.upstreamShared = upstreamShared;
    this.relaying = true;
    this.lastActive = coarseNow();
    if (headUp && headUp.length > 0) {
      this.bytesUp += headUp.length;
      upstream.write(headUp);
    }
    if (headDown && headDown.length > 0) {
      this.bytesDown += headDown.length;
      this.client.write(headDown);
    }
    // A side that ended while we were not relaying yet (seen as 'end' before adoption) is carried on now.
    if (this.client.readableEnded) upstream.end();
    if (upstream.readableEnded) this.client.end();
    if (upstream.writableLength === 0) resumeReads(this.client, this.clientShared);
    else {
      this.#upStopped = true;
      notifyWhenWritten(upstream);
    }
    if (this.client.writableLength === 0) resumeReads(upstream, upstreamShared);
    else {
      this.#downStopped = true;
      notifyWhenWritten(this.client);
    }
  }

  onRead(socket: Socket, chunk: Buffer, fromShared: boolean): boolean {
    const up = socket === this.client;
    const dst = up ? this.upstream : this.client;
    if (!dst || !this.relaying) return false;
    if (up) this.bytesUp += chunk.length;
    else this.bytesDown += chunk.length;
    this.lastActive = coarseNow();
    dst.write(chunk);
    const pending = dst.writableLength;
    if (pending === 0) return true;
    if (fromShared) {
      // libuv keeps a pointer to the unwritten tail (writeQueueSize bytes) when nothing else was queued; else
      // the whole chunk may still be referenced.
      const handle = (dst as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
      const queued = pending === chunk.length ? handle?.writeQueueSize ?? chunk.length : chunk.length;
      const entry = guard(chunk, queued);
      if (up) this.#upGuard = entry;
      else this.#downGuard = entry;
    }
    if (up) this.#upStopped = true;
    else this.#downStopped = true;
    notifyWhenWritten(dst);
    return false;
  }

  onDrain(socket: Socket): void {
    const up = socket !== this.client;
    if (socket.writableLength > 0) return;
    if (up) {
      release(this.#upGuard);
      this.#upGuard = undefined;
      if (this.#upStopped && this.relaying) {
        this.#upStopped = false;
        resumeReads(this.client, this.clientShared);
      }
    } else {
      release(this.#downGuard);
      this.#downGuard = undefined;
      if (this.#downStopped && this.relaying && this.upstream) {
        this.#downStopped = false;
        resumeReads(this.upstream, this.upstreamShared);
      }
    }
  }

  onEnd(socket: Socket): void {
    if (!this.relaying) return;
    const dst = socket === this.client ? this.upstream : this.client;
    dst?.end();
  }

  onError(_socket: Socket, error: Error): void {
    this.#error ??= error;
    this.#end ??= isReset(error) ? 'reset' : 'error';
  }

  onClose(socket: Socket, hadError: boolean): void {
    if (!this.relaying) return;
    if (socket === this.client) this.#clientClosed = true;
    else this.#upstreamClosed = true;
    const clean = !hadError && socket.readableEnded && socket.writableFinished;
    if (!clean) {
      this.#end ??= 'reset';
      const other = socket === this.client ? this.upstream : this.client;
      if (other) reset(other);
    }
    if (this.#clientClosed && this.#upstreamClosed) this.#finish();
  }

  /** Ends the relay now: `rst` resets both sides (an abrupt cut), else closes them. */
  cut(end: RelayEnd, rst: boolean): void {
    if (!this.relaying) return;
    this.#end ??= end;
    for (const socket of [this.client, this.upstream]) {
      if (!socket) continue;
      if (rst) reset(socket);
      else socket.destroy();
    }
  }

  #finish(): void {
    if (!this.relaying) return;
    this.relaying = false;
    release(this.#upGuard);
    release(this.#downGuard);
    this.#upGuard = this.#downGuard = undefined;
    this.relayEnded(this.#end ?? 'completed', this.#error);
  }
}
