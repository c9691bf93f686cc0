/** In-process loopback helpers for the relay, server and client suites: socket pairs, an echo target, a
 * byte collector with bounded waits, and scripted "rogue" peers. Every wait here has a limit. */

import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Decoder } from '../../lib/codec/decoded.ts';

export const WAIT_MS = 3000;

/** Rejects after `ms` with a message naming what was awaited; the timer never keeps the process alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Collects everything a socket receives and lets a test wait, with a limit, for a number of bytes, a
 * decodable message, or the end of the stream. */
export class Collector {
  readonly socket: Socket;
  #data: Buffer = Buffer.alloc(0);
  #consumed = 0;
  ended = false;
  closed = false;
  error: Error | undefined;
  #waiters = new Set<() => void>();

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#data = Buffer.concat([this.#data, chunk]);
      this.#wake();
    });
    socket.on('end', () => { this.ended = true; this.#wake(); });
    socket.on('close', () => { this.closed = true; this.#wake(); });
    socket.on('error', (error) => { this.error = error; this.#wake(); });
    socket.resume();
  }

  /** Every byte received so far, consumed or not. */
  get all(): Buffer {
    return this.#data;
  }

  get length(): number {
    return this.#data.length;
  }

  /** Bytes received and not yet taken. */
  get pending(): Buffer {
    return this.#data.subarray(this.#consumed);
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Waits until `ready()` holds; rejects at the limit, or early when the stream finished and `ready()` still
   * does not hold. */
  async until(ready: () => boolean, timeoutMs: number, what: string, failAtEnd = true): Promise<void> {
    if (ready()) return;
    let wake: (() => void) | undefined;
    const done = new Promise<void>((resolve, reject) => {
      wake = (): void => {
        if (ready()) resolve();
        else if (failAtEnd && (this.ended || this.closed)) reject(new Error(`stream ended while waiting for ${what} (have ${this.pending.length} unread bytes: ${this.pending.toString('hex').slice(0, 80)})`));
      };
      this.#waiters.add(wake);
      wake();
    });
    try {
      await withTimeout(done, timeoutMs, `${what} (have ${this.pending.length} unread bytes)`);
    } finally {
      if (wake) this.#waiters.delete(wake);
    }
  }

  /** The next `n` bytes. */
  async take(n: number, timeoutMs = WAIT_MS): Promise<Buffer> {
    await this.until(() => this.#data.length - this.#consumed >= n, timeoutMs, `${n} bytes`);
    const out = this.#data.subarray(this.#consumed, this.#consumed + n);
    this.#consumed += n;
    return out;
  }

  /** The next message the codec decoder recognises (the decoder is the spec of the message's length). */
  async read<T>(decode: Decoder<T>, timeoutMs = WAIT_MS): Promise<{ value: T; bytes: Buffer }> {
    let length = 0;
    let value: T | undefined;
    await this.until(() => {
      const r = decode(this.pending, 0);
      if (!r.done) return false;
      length = r.length;
      value = r.value;
      return true;
    }, timeoutMs, 'a complete message');
    const bytes = this.pending.subarray(0, length);
    this.#consumed += length;
    return { value: value as T, bytes };
  }

  /** Waits for EOF or close; returns the unread bytes. */
  async end(timeoutMs = WAIT_MS): Promise<Buffer> {
    await this.until(() => this.ended || this.closed, timeoutMs, 'the end of the stream');
    const rest = this.pending;
    this.#consumed = this.#data.length;
    return rest;
  }

  async close(timeoutMs = WAIT_MS): Promise<void> {
    await this.until(() => this.closed, timeoutMs, 'the socket to close', false);
  }
}

export function listen(server: Server, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: host.includes(':') }, () => {
      server.off('error', reject);
      const address = server.address();
      if (address && typeof address === 'object') resolve(address.port);
      else reject(new Error('no address'));
    });
  });
}

/** Closes a server and destroys the sockets it accepted (tracked by the caller). */
export function closeServer(server: Server, sockets: Iterable<Socket> = []): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return withTimeout(new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  }), WAIT_MS, 'a server to close').catch(() => undefined);
}

export function connectTo(host: string, port: number, options: { allowHalfOpen?: boolean; localAddress?: string } = {}): Promise<Socket> {
  return withTimeout(new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: options.allowHalfOpen ?? true, noDelay: true, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    socket.once('connect', () => { socket.off('error', reject); resolve(socket); });
    socket.once('error', reject);
  }), WAIT_MS, `a connection to ${host}:${port}`);
}

/** True when the server at 127.0.0.1:`port` closes or resets a new connection from `from` without a byte. */
export async function refusedAtOnce(port: number, from = '127.0.0.1'): Promise<boolean> {
  let socket: Socket;
  try {
    socket = await connectTo('127.0.0.1', port, { localAddress: from });
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNRESET';
  }
  const c = new Collector(socket);
  await c.close(3000);
  return c.length === 0;
}

/** A connected TCP pair on loopback, both ends with allowHalfOpen. `outer` is the test's end, `inner` the
 * end handed to the code under test. */
export async function socketPair(host = '127.0.0.1'): Promise<{ outer: Socket; inner: Socket }> {
  const server = createServer({ allowHalfOpen: true, noDelay: true });
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const port = await listen(server, host);
  try {
    const outer = await connectTo(host, port);
    const inner = await withTimeout(accepted, WAIT_MS, 'the accepted side of a pair');
    return { outer, inner };
  } finally {
    server.close();
  }
}

/** What the echo server saw of one connection: the proxy's upstream socket, from the target's side. */
export interface EchoPeer { readonly remoteAddress: string; readonly remotePort: number; readonly socket: Socket }

export interface EchoServer {
  readonly host: string;
  readonly port: number;
  readonly peers: EchoPeer[];
  /** Resolves with the nth (0-based) connection. */
  peer(index: number): Promise<EchoPeer>;
  close(): Promise<void>;
}

/** Echoes every byte back, ends its side when the client ends. */
export async function startEcho(host = '127.0.0.1'): Promise<EchoServer> {
  const peers: EchoPeer[] = [];
  const sockets = new Set<Socket>();
  const waiters: Array<() => void> = [];
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    peers.push({ remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, socket });
    socket.on('data', (chunk: Buffer) => { socket.write(chunk); });
    socket.on('end', () => socket.end());
    for (const wake of waiters.splice(0)) wake();
  });
  const port = await listen(server, host);
  return {
    host, port, peers,
    async peer(index) {
      await withTimeout(new Promise<void>((resolve) => {
        const check = (): void => { if (peers.length > index) resolve(); else waiters.push(check); };
        check();
      }), WAIT_MS, `echo connection #${index}`);
      const peer = peers[index];
      if (!peer) throw new Error('unreachable');
      return peer;
    },
    close: () => closeServer(server, sockets),
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  const port = await listen(server, host);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One connection to a rogue peer: what the client sent, and the socket to answer on. */
export interface RoguePeer {
  readonly socket: Socket;
  readonly input: Collector;
}

export interface RogueServer {
  readonly port: number;
  readonly peers: RoguePeer[];
  /** Errors thrown by the script (other than the client going away). */
  readonly errors: unknown[];
  peer(index: number): Promise<RoguePeer>;
  close(): Promise<void>;
}

/** A fake proxy that runs `script` for each connection: the client library's behaviour against bad peers. */
export async function startRogue(script: (peer: RoguePeer) => Promise<void> | void, host = '127.0.0.1'): Promise<RogueServer> {
  const peers: RoguePeer[] = [];
  const errors: unknown[] = [];
  const sockets = new Set<Socket>();
  const waiters: Array<() => void> = [];
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const peer = { socket, input: new Collector(socket) };
    peers.push(peer);
    for (const wake of waiters.splice(0)) wake();
    Promise.resolve().then(() => script(peer)).catch((error: unknown) => { if (!socket.destroyed) errors.push(error); });
  });
  const port = await listen(server, host);
  return {
    port, peers, errors,
    async peer(index) {
      await withTimeout(new Promise<void>((resolve) => {
        const check = (): void => { if (peers.length > index) resolve(); else waiters.push(check); };
        check();
      }), WAIT_MS, `rogue connection #${index}`);
      const peer = peers[index];
      if (!peer) throw new Error('unreachable');
      return peer;
    },
    close: () => closeServer(server, sockets),
  };
}

/** Runs `body` against a rogue peer running `script`, and closes the peer whatever happens. */
export async function withRogue(script: (peer: RoguePeer) => Promise<void> | void, body: (rogue: RogueServer) => Promise<void>): Promise<void> {
  const rogue = await startRogue(script);
  try {
    await body(rogue);
  } finally {
    await rogue.close();
  }
}

export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

/** Writes `data` one byte per write, with a pause between so TCP cannot join them. */
export async function writeByteByByte(socket: Socket, data: Uint8Array, pauseMs = 2): Promise<void> {
  for (const byte of data) {
    socket.write(Buffer.from([byte]));
    await sleep(pauseMs);
  }
}
