import type { Socket } from 'node:net';
import type { ProxyConfig } from '../client/proxy-url.ts';
import { CodecError, type Decoder } from '../codec/decoded.ts';
import { dialTcp, type Dial } from '../dial.ts';
import { errnoCode, socketErrorText } from '../errors.ts';
import { hexBytes } from './bytes.ts';
import { errorText } from './detect.ts';

/** Why a read gave no message. */
export type Miss = { readonly why: 'closed' | 'timeout' | 'malformed' | 'error'; readonly text: string };
export type Read<T> = { readonly ok: true; readonly value: T; readonly bytes: Buffer } | ({ readonly ok: false } & Miss);

/**
 * One raw connection to the proxy for the conformance checks: they send bytes no well-behaved client would
 * (unoffered methods, RSV ≠ 0, a greeting a byte at a time), read replies with the codec's decoders, and keep
 * every byte received as evidence. Each wait is bounded by `timeoutMs`.
 */
export class Wire {
  readonly socket: Socket;
  readonly timeoutMs: number;
  /** Every byte received so far, for evidence. */
  received = Buffer.alloc(0);
  #pending = Buffer.alloc(0);
  #ended: string | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.#pending = Buffer.concat([this.#pending, chunk]);
      this.#wake?.();
    });
    const end = (text: string): void => {
      this.#ended ??= text;
      this.#wake?.();
    };
    socket.on('end', () => end('the proxy closed the connection'));
    socket.on('close', () => end('the connection closed'));
    socket.on('error', (error) => end(`the connection failed: ${socketErrorText(errnoCode(error))}`));
    // A socket that came through a chain is handed over paused; a 'data' listener alone would not start it.
    socket.resume();
  }

  static async open(proxy: ProxyConfig, timeoutMs: number, dial: Dial = dialTcp): Promise<Wire> {
    return new Wire(await dial(proxy.host, proxy.port, { timeoutMs }), timeoutMs);
  }

  /** True once the proxy has closed (or reset) the connection. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  send(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** The next message, decoded from what the proxy sends; bytes behind it stay for the next read. */
  async read<T>(decode: Decoder<T>, timeoutMs = this.timeoutMs): Promise<Read<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const decoded = decode(this.#pending);
        if (decoded.done) {
          const bytes = this.#pending.subarray(0, decoded.length);
          this.#pending = this.#pending.subarray(decoded.length);
          return { ok: true, value: decoded.value, bytes };
        }
      } catch (error) {
        if (!(error instanceof CodecError)) throw error;
        return { ok: false, why: 'malformed', text: `${error.message} (${hexBytes(this.#pending, 24)})` };
      }
      if (this.#ended !== undefined) return { ok: false, why: 'closed', text: this.#describeEnd() };
      if (!(await this.#waitForChange(deadline))) return { ok: false, why: 'timeout', text: this.#describeSilence(timeoutMs) };
    }
  }

  /** Exactly `length` bytes (or fewer, when the proxy closes or the time runs out). */
  async readBytes(length: number, timeoutMs = this.timeoutMs): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#pending.length < length && this.#ended === undefined && await this.#waitForChange(deadline));
    const bytes = this.#pending.subarray(0, length);
    this.#pending = this.#pending.subarray(bytes.length);
    return bytes;
  }

  /** Waits up to `timeoutMs` for the proxy to close; true when it did. Bytes that come meanwhile are kept. */
  async closed(timeoutMs = this.timeoutMs): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#ended === undefined && await this.#waitForChange(deadline));
    return this.#ended !== undefined;
  }

  /** Bytes received and not yet read. */
  unread(): Buffer {
    return this.#pending;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #waitForChange(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#wake = undefined; resolve(false); }, left);
      this.#wake = () => { clearTimeout(timer); this.#wake = undefined; resolve(true); };
    });
  }

  #describeEnd(): string {
    const got = this.#pending.length === 0 ? 'nothing' : `${this.#pending.length} bytes (${hexBytes(this.#pending, 24)})`;
    return `${this.#ended ?? 'closed'} after ${got}`;
  }

  #describeSilence(timeoutMs: number): string {
    const got = this.#pending.length === 0 ? 'nothing' : `only ${this.#pending.length} bytes (${hexBytes(this.#pending, 24)})`;
    return `${got} within ${timeoutMs} ms`;
  }
}

/** Opens a Wire, or says why not. */
export async function openWire(proxy: ProxyConfig, timeoutMs: number, dial?: Dial): Promise<Wire | Miss> {
  try {
    return await Wire.open(proxy, timeoutMs, dial);
  } catch (error) {
    return { why: 'error', text: `cannot connect to the proxy: ${errorText(error)}` };
  }
}
