import type { Socket } from 'node:net';
import type { Decoder } from './codec/decoded.ts';
import { SocxError, errnoCode, socketErrorText, type Phase } from './errors.ts';

export interface MessageReaderOptions {
  /** Who is on the other end, for messages: "proxy" or "client". */
  readonly peer: string;
  /** Cap on bytes held while a message is incomplete: a peer cannot make us buffer without end. */
  readonly maxBytes: number;
  /** Bytes already read off the socket by an earlier stage. */
  readonly initial?: Buffer | undefined;
}

interface PendingRead {
  readonly decode: Decoder<unknown>;
  readonly phase: Phase;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads handshake messages off a socket with a codec decoder, however TCP splits or joins them. Between reads
 * the socket is paused, so bytes the peer sends early mostly stay in the kernel; `release()` hands what was
 * read past the last message to the next stage.
 */
export class MessageReader {
  readonly #socket: Socket;
  readonly #options: MessageReaderOptions;
  #buffered: Buffer = EMPTY;
  #pending: PendingRead | undefined;
  #failure: unknown;
  #phase: Phase = 'greeting';

  constructor(socket: Socket, options: MessageReaderOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#buffered = options.initial ?? EMPTY;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('timeout', this.#onTimeout);
    socket.pause();
  }

  /** Resolves with the next message; rejects with a SocxError (closed, timeout, network, protocol) or the
   * decoder's CodecError. */
  read<T>(decode: Decoder<T>, phase: Phase): Promise<T> {
    this.#phase = phase;
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<T>((resolve, reject) => {
      this.#pending = { decode, phase, resolve: resolve as (value: unknown) => void, reject };
      if (!this.#tryDecode()) this.#socket.resume();
    });
  }

  /** Stops reading and returns the bytes read past the last message: they belong to the next stage. They
   * cannot always go back with `unshift`, since the peer may have ended its side already. */
  release(): Buffer {
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onEnd);
    socket.off('error', this.#onError);
    socket.off('timeout', this.#onTimeout);
    socket.pause();
    const rest = this.#buffered;
    this.#buffered = EMPTY;
    return rest;
  }

  /** Fails the pending read (and later ones), e.g. when the caller's own deadline passes. */
  fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
  }

  #tryDecode(): boolean {
    const pending = this.#pending;
    if (!pending) return false;
    let result;
    try {
      result = pending.decode(this.#buffered, 0);
    } catch (error) {
      this.fail(error);
      return true;
    }
    if (!result.done) {
      if (this.#buffered.length > this.#options.maxBytes) {
        this.fail(new SocxError('protocol', `${this.#options.peer} sent more than ${this.#options.maxBytes} bytes of handshake`, { phase: pending.phase }));
        return true;
      }
      return false;
    }
    this.#buffered = result.length === this.#buffered.length ? EMPTY : this.#buffered.subarray(result.length);
    this.#pending = undefined;
    this.#socket.pause();
    pending.resolve(result.value);
    return true;
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    if (!this.#pending) {
      this.#socket.pause();
      return;
    }
    this.#tryDecode();
  };

  readonly #onEnd = (): void => {
    this.fail(new SocxError('proxy-closed', `${this.#options.peer} closed the connection during ${this.#phase}`, { phase: this.#phase }));
  };

  readonly #onError = (error: Error): void => {
    const code = errnoCode(error);
    this.fail(new SocxError('network', `${this.#options.peer} connection failed during ${this.#phase}: ${socketErrorText(code)}`, { phase: this.#phase, cause: error }));
  };

  readonly #onTimeout = (): void => {
    this.fail(new SocxError('timeout', `${this.#options.peer} did not complete the ${this.#phase} in time`, { phase: this.#phase }));
  };
}
