import { getSystemErrorName } from 'node:util';

/**
 * TCP connections on libuv's handles directly (node's tcp_wrap and stream_wrap bindings), for the
 * connection-rate generator: a net.Socket costs ~50 µs of JavaScript per connection (stream machinery, event
 * emitters, timers), as much as the kernel's own work, and on a small machine that CPU is taken from the
 * proxy being measured. A handle costs a few. socx pins its Node (24), whose bindings these are; net.Socket
 * is built on the very same calls.
 *
 * Every connection reads into one shared buffer: a read's callback runs to its end before the next read
 * begins, so whatever must outlive it is copied by the owner.
 */
interface TcpHandle {
  owner: RawOwner | undefined;
  onread: (this: TcpHandle) => void;
  connect(request: ConnectRequest, host: string, port: number): number;
  useUserBuffer(buffer: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  setNoDelay(on: boolean): number;
  writeBuffer(request: WriteRequest, data: Uint8Array): number;
  close(callback?: () => void): void;
}
interface ConnectRequest {
  oncomplete: (status: number, handle: TcpHandle) => void;
  address: string;
  port: number;
}
interface WriteRequest {
  handle: TcpHandle;
  oncomplete: (status: number) => void;
  async: boolean;
}
interface TcpServerHandle {
  onconnection: (status: number, handle: TcpHandle | undefined) => void;
  bind(host: string, port: number): number;
  listen(backlog: number): number;
  getsockname(out: { port?: number }): number;
  close(callback?: () => void): void;
}
interface TcpWrap {
  TCP: (new (type: 0) => TcpHandle) & (new (type: 1) => TcpServerHandle);
  TCPConnectWrap: new () => ConnectRequest;
  constants: { SOCKET: 0; SERVER: 1 };
}
interface StreamWrap {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

const bindings = process as unknown as { binding(name: string): unknown };
const tcpWrap = bindings.binding('tcp_wrap') as TcpWrap;
const streamWrap = bindings.binding('stream_wrap') as StreamWrap;
const { streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = streamWrap;

/** libuv's end of stream, as a read's result. */
const UV_EOF = -4095;

export const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

/** What a connection tells its owner. `bytes` are in the connection's read buffer (sharedReadBuffer unless
 * it was given its own) from offset 0. The connection is closed before `ended` and `failed`. */
export interface RawOwner {
  connected(): void;
  received(bytes: number): void;
  /** A write that could not complete at once (see RawConnection.write) has. */
  written?(): void;
  ended(): void;
  failed(why: string): void;
}

export class RawConnection {
  readonly #handle: TcpHandle;

  private constructor(handle: TcpHandle, owner: RawOwner, buffer: Uint8Array) {
    handle.owner = owner;
    handle.onread = onRead;
    handle.useUserBuffer(buffer);
    this.#handle = handle;
  }

  /** A connection to host:port; the owner hears `connected` (or `failed`). */
  static connect(host: string, port: number, owner: RawOwner): RawConnection {
    const handle = new tcpWrap.TCP(tcpWrap.constants.SOCKET);
    const connection = new RawConnection(handle, owner, sharedReadBuffer);
    const request = new tcpWrap.TCPConnectWrap();
    request.oncomplete = onConnect;
    request.address = host;
    request.port = port;
    const error = handle.connect(request, host, port);
    if (error < 0) queueMicrotask(() => connection.#fail(error, 'connect'));
    return connection;
  }

  /** An accepted connection, reading at once into `buffer`. */
  static accepted(handle: TcpHandle, owner: RawOwner, buffer: Uint8Array = sharedReadBuffer): RawConnection {
    const connection = new RawConnection(handle, owner, buffer);
    handle.setNoDelay(true);
    const error = handle.readStart();
    if (error < 0) queueMicrotask(() => connection.#fail(error, 'read'));
    return connection;
  }

  /** Whatever the kernel does not take at once stays queued, pointing into `data`: returns false then, and the
   * owner hears `written` when it has gone. Until then `data` must stay unchanged. */
  write(data: Uint8Array): boolean {
    const handle = this.#handle;
    if (!handle.owner) return true;
    const request = new streamWrap.WriteWrap();
    request.handle = handle;
    request.oncomplete = onWritten;
    request.async = false;
    const error = handle.writeBuffer(request, data);
    if (error < 0) {
      this.#fail(error, 'write');
      return true;
    }
    return streamBaseState[kLastWriteWasAsync] === 0;
  }

  pause(): void {
    this.#handle.readStop();
  }

  resume(): void {
    this.#handle.readStart();
  }

  /** Closes at once; the owner hears nothing more. */
  close(): void {
    const handle = this.#handle;
    if (!handle.owner) return;
    handle.owner = undefined;
    handle.close();
  }

  #fail(error: number, what: string): void {
    const owner = this.#handle.owner;
    this.close();
    owner?.failed(`${what}: ${errorName(error)}`);
  }
}

function errorName(code: number): string {
  try {
    return getSystemErrorName(code);
  } catch {
    return `error ${code}`;
  }
}

function onConnect(status: number, handle: TcpHandle): void {
  const owner = handle.owner;
  if (!owner) return;
  if (status < 0) {
    handle.owner = undefined;
    handle.close();
    return owner.failed(`connect: ${errorName(status)}`);
  }
  handle.setNoDelay(true);
  const error = handle.readStart();
  if (error < 0) {
    handle.owner = undefined;
    handle.close();
    return owner.failed(`read: ${errorName(error)}`);
  }
  owner.connected();
}

function onRead(this: TcpHandle): void {
  const owner = this.owner;
  if (!owner) return;
  const bytes = streamBaseState[kReadBytesOrError] ?? 0;
  if (bytes > 0) return owner.received(bytes);
  if (bytes === 0) return;
  this.owner = undefined;
  this.close();
  if (bytes === UV_EOF) owner.ended();
  else owner.failed(`read: ${errorName(bytes)}`);
}

function onWritten(this: WriteRequest, status: number): void {
  const owner = this.handle.owner;
  if (!owner) return;
  if (status < 0) {
    this.handle.owner = undefined;
    this.handle.close();
    return owner.failed(`write: ${errorName(status)}`);
  }
  owner.written?.();
}

export interface RawServer {
  readonly port: number;
  close(): void;
}

/** A listener on host (port 0: a free one) whose connections are handed over as libuv handles. */
export function rawListen(host: string, backlog: number, onConnection: (accept: (owner: RawOwner, buffer?: Uint8Array) => RawConnection) => void): RawServer {
  const server = new tcpWrap.TCP(tcpWrap.constants.SERVER);
  const fail = (error: number, what: string): never => {
    server.close();
    throw new Error(`${what} ${host}: ${errorName(error)}`);
  };
  let error = server.bind(host, 0);
  if (error < 0) fail(error, 'cannot bind');
  error = server.listen(backlog);
  if (error < 0) fail(error, 'cannot listen on');
  server.onconnection = (status, handle) => {
    // A failed accept (out of descriptors, say) loses that connection only; the client sees it fail.
    if (status < 0 || !handle) return;
    onConnection((owner, buffer) => RawConnection.accepted(handle, owner, buffer));
  };
  const address: { port?: number } = {};
  server.getsockname(address);
  return { port: address.port ?? 0, close: () => server.close() };
}
