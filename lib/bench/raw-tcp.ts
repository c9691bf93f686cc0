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
interface TcpWrap {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectRequest;
  constants: { SOCKET: number };
}
interface StreamWrap {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}

const bindings = process as unknown as { binding(name: string): unknown };
const tcpWrap = bindings.binding('tcp_wrap') as TcpWrap;
const streamWrap = bindings.binding('stream_wrap') as StreamWrap;
const { streamBaseState, kReadBytesOrError } = streamWrap;

/** libuv's end of stream, as a read's result. */
const UV_EOF = -4095;

export const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

/** What a connection tells its owner. `bytes` are in sharedReadBuffer from offset 0. */
export interface RawOwner {
  connected(): void;
  received(bytes: number): void;
  ended(): void;
  failed(why: string): void;
}

export class RawConnection {
  readonly #handle: TcpHandle;

  constructor(host: string, port: number, owner: RawOwner) {
    const handle = new tcpWrap.TCP(tcpWrap.constants.SOCKET);
    handle.owner = owner;
    handle.onread = onRead;
    handle.useUserBuffer(sharedReadBuffer);
    this.#handle = handle;
    const request = new tcpWrap.TCPConnectWrap();
    request.oncomplete = onConnect;
    request.address = host;
    request.port = port;
    const error = handle.connect(request, host, port);
    if (error < 0) queueMicrotask(() => this.#fail(error, 'connect'));
  }

  /** `data` must stay unchanged until written: the callers write constant buffers only. */
  write(data: Uint8Array): void {
    const handle = this.#handle;
    if (!handle.owner) return;
    const request = new streamWrap.WriteWrap();
    request.handle = handle;
    request.oncomplete = onWritten;
    request.async = false;
    const error = handle.writeBuffer(request, data);
    if (error < 0) this.#fail(error, 'write');
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
  if (status < 0 && owner) {
    this.handle.owner = undefined;
    this.handle.close();
    owner.failed(`write: ${errorName(status)}`);
  }
}
