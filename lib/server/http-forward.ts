import type { Socket } from 'node:net';
import { CodecError } from '../codec/decoded.ts';
import { ChunkedScanner, responseFraming, type Framing } from '../codec/http-framing.ts';
import { decodeHttpResponseHead, encodeHttpResponseHead, MAX_HTTP_HEAD, type HttpResponseHead } from '../codec/http-head.ts';
import { forwardHeaders } from '../codec/http-hop.ts';
import { describeError, errnoCode } from '../errors.ts';
import { encodeHttpError } from './http-status.ts';
import type { ForwardPlan } from './http-request.ts';
import { notifyWhenWritten, resumeReads } from './pair-relay.ts';
import { coarseNow } from './sweep.ts';
import type { Outcome } from './types.ts';

/** How one forwarded exchange ended, for the session to record and to go on (keep-alive) or close. */
export interface ForwardEnd {
  /** The client connection may carry the next request. */
  readonly keepAlive: boolean;
  /** What the client sent behind this request (the next one, pipelined). */
  readonly rest: Buffer | undefined;
  readonly outcome: Outcome;
  readonly result: string;
  /** The status the client got, the origin's or ours. */
  readonly status: number | undefined;
  /** Our own error response, when the origin failed before its response began. */
  readonly reply: Buffer | undefined;
  /** The response was cut short: the client must see an abrupt end, not a complete message. */
  readonly cut: boolean;
}

export interface ForwardHost {
  forwardEnded(end: ForwardEnd): void;
}

/** A body's progress: bytes left of a length, or the chunked scanner. */
class Body {
  readonly #framing: Framing;
  #left: number;
  readonly #chunks: ChunkedScanner | undefined;
  constructor(framing: Framing) {
    this.#framing = framing;
    this.#left = framing.kind === 'length' ? framing.length : 0;
    this.#chunks = framing.kind === 'chunked' ? new ChunkedScanner() : undefined;
  }

  get done(): boolean {
    const kind = this.#framing.kind;
    return kind === 'none' || (kind === 'length' && this.#left === 0) || (this.#chunks?.done ?? false);
  }

  get closeDelimited(): boolean {
    return this.#framing.kind === 'close';
  }

  /** How many bytes of `chunk` from `start` belong to the body; `data` gets the payload runs of a chunked one. */
  take(chunk: Buffer, start: number, data?: (from: number, to: number) => void): number {
    if (this.#chunks) return this.#chunks.scan(chunk, start, chunk.length, data);
    if (this.#framing.kind === 'close') return chunk.length - start;
    const used = Math.min(this.#left, chunk.length - start);
    this.#left -= used;
    return used;
  }
}

/**
 * One plain HTTP request sent on to its origin and its response brought back (RFC 9110 §7.6): the request
 * body and the response body are passed through in their own framing, so the end of each is known and the
 * client's connection can carry the next request; 1xx responses are passed on (not to HTTP/1.0 clients); a
 * chunked response to an HTTP/1.0 client is unwrapped and ends with the close. The origin connection serves
 * this one exchange. Backpressure both ways: a write left pending stops reads on its source until 'drain'.
 */
export class HttpForward {
  readonly #host: ForwardHost;
  readonly #client: Socket;
  readonly #clientShared: boolean;
  readonly origin: Socket;
  readonly #plan: ForwardPlan;
  readonly #requestBody: Body;
  #rest: Buffer | undefined;
  #responseHead: Buffer | undefined;
  #response: HttpResponseHead | undefined;
  #responseBody: Body | undefined;
  #keepAlive = false;
  #dechunk = false;
  #clientEnded = false;
  #finished = false;
  #clientWaiting = false;
  #originWaiting = false;
  bytesUp = 0;
  bytesDown = 0;
  lastActive = coarseNow();

  constructor(host: ForwardHost, client: Socket, clientShared: boolean, origin: Socket, plan: ForwardPlan) {
    this.#host = host;
    this.#client = client;
    this.#clientShared = clientShared;
    this.origin = origin;
    this.#plan = plan;
    this.#requestBody = new Body(plan.framing);
  }

  /** Sends the head and what the client sent already, then reads both sides. */
  start(fromClient: Buffer | undefined, fromOrigin: Buffer | undefined): void {
    this.#writeUp(this.#plan.head);
    if (fromClient) this.onRead(this.#client, fromClient, false);
    // A client that half-closed while the origin was dialed: its end was seen before this exchange began.
    if (this.#client.readableEnded) this.onEnd(this.#client);
    if (fromOrigin && !this.#finished) this.onRead(this.origin, fromOrigin, false);
    if (this.#finished) return;
    if (!this.#requestBody.done && !this.#clientWaiting) resumeReads(this.#client, this.#clientShared);
    if (!this.#originWaiting) this.origin.resume();
  }

  get #requestDone(): boolean {
    return this.#requestBody.done;
  }

  onRead(socket: Socket, chunk: Buffer, fromShared: boolean): boolean {
    if (this.#finished) return false;
    this.lastActive = coarseNow();
    try {
      return socket === this.origin ? this.#fromOrigin(chunk) : this.#fromClient(chunk, fromShared);
    } catch (error) {
      // A chunked body that does not parse: the exchange cannot go on, whoever sent it.
      if (!(error instanceof CodecError)) throw error;
      if (socket === this.origin) this.#fail(undefined, 'error', `bad chunked body from the origin: ${error.message}`);
      else this.#fail(400, 'bad-request', `bad chunked request body: ${error.message}`, 'malformed request');
      return false;
    }
  }

  /** The request body goes up; what follows it is the next request, kept (copied: the read buffer may be
   * shared) until this exchange is over. False stops client reads. */
  #fromClient(chunk: Buffer, fromShared: boolean): boolean {
    let start = 0;
    if (!this.#requestDone) {
      const used = this.#requestBody.take(chunk, 0);
      if (used > 0) this.#writeUp(fromShared ? Buffer.from(chunk.subarray(0, used)) : chunk.subarray(0, used));
      start = used;
    }
    if (start < chunk.length) {
      const more = chunk.subarray(start);
      this.#rest = this.#rest ? Buffer.concat([this.#rest, more]) : Buffer.from(more);
    }
    // Once the request is read, reads stop until the response is through: a pipelined request waits.
    return !this.#requestDone && !this.#clientWaiting;
  }

  #writeUp(bytes: Buffer): void {
    this.bytesUp += bytes.length;
    this.origin.write(bytes);
    if (this.origin.writableLength > 0 && !this.#clientWaiting) {
      this.#clientWaiting = true;
      notifyWhenWritten(this.origin);
    }
  }

  #writeDown(bytes: Buffer): void {
    this.bytesDown += bytes.length;
    this.#client.write(bytes);
    if (this.#client.writableLength > 0 && !this.#originWaiting) {
      this.#originWaiting = true;
      notifyWhenWritten(this.#client);
    }
  }

  /** Response heads (1xx first, then the final one), then the body to its end. False pauses the origin. */
  #fromOrigin(chunk: Buffer): boolean {
    let start = 0;
    while (!this.#responseBody && start < chunk.length) {
      const head = this.#readHead(chunk, start);
      // A 1xx passed on may have left a write pending: a stream of them is held back like a body.
      if (head === undefined) return !this.#finished && !this.#originWaiting;
      start = head;
    }
    const body = this.#responseBody;
    if (!body || start >= chunk.length) return !this.#originWaiting;
    if (this.#dechunk) body.take(chunk, start, (from, to) => this.#writeDown(chunk.subarray(from, to)));
    else {
      const used = body.take(chunk, start);
      this.#writeDown(start === 0 && used === chunk.length ? chunk : chunk.subarray(start, start + used));
    }
    if (body.done) this.#end();
    return !this.#originWaiting;
  }

  /** Decodes one response head from the buffered bytes plus `chunk[start..]`; returns where the rest of
   * `chunk` starts, or undefined when more is needed (or the exchange failed). */
  #readHead(chunk: Buffer, start: number): number | undefined {
    const before = this.#responseHead?.length ?? 0;
    const bytes = this.#responseHead ? Buffer.concat([this.#responseHead, chunk.subarray(start)]) : chunk.subarray(start);
    let decoded;
    try {
      decoded = decodeHttpResponseHead(bytes, 0, MAX_HTTP_HEAD);
      if (!decoded.done) {
        this.#responseHead = Buffer.from(bytes);
        return undefined;
      }
      this.#responseHead = undefined;
      this.#respond(decoded.value);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.#fail(502, 'error', `bad response from the origin: ${error.message}`);
      return undefined;
    }
    return this.#finished ? undefined : start + decoded.length - before;
  }

  #respond(head: HttpResponseHead): void {
    const { clientVersion, method, clientPersists } = this.#plan;
    if (head.status === 101) return this.#fail(502, 'error', 'the origin switched protocols unasked');
    if (head.status < 200) {
      // RFC 9110 §15.2: a 1xx is passed on, except to an HTTP/1.0 client.
      if (clientVersion.minor >= 1) this.#writeDown(encodeHttpResponseHead({ status: head.status, reason: head.reason, headers: forwardHeaders(head.headers, head.version, false) }));
      return;
    }
    const framing = responseFraming(method, head.status, head.headers);
    this.#response = head;
    this.#responseBody = new Body(framing);
    this.#dechunk = framing.kind === 'chunked' && clientVersion.minor === 0;
    this.#keepAlive = clientPersists && framing.kind !== 'close' && this.#requestDone && !this.#clientEnded;
    const headers = forwardHeaders(head.headers, head.version, framing.kind === 'chunked' && !this.#dechunk);
    if (!this.#keepAlive) headers.push({ name: 'Connection', value: 'close' });
    this.#writeDown(encodeHttpResponseHead({ status: head.status, reason: head.reason, headers }));
    if (this.#responseBody.done) this.#end();
  }

  onDrain(socket: Socket): void {
    if (this.#finished || socket.writableLength > 0) return;
    if (socket === this.origin && this.#clientWaiting) {
      this.#clientWaiting = false;
      if (!this.#requestDone) resumeReads(this.#client, this.#clientShared);
    } else if (socket === this.#client && this.#originWaiting) {
      this.#originWaiting = false;
      this.origin.resume();
    }
  }

  onEnd(socket: Socket): void {
    if (this.#finished) return;
    if (socket === this.#client) {
      this.#clientEnded = true;
      if (!this.#requestDone) this.#fail(undefined, 'aborted', 'client closed the connection during the request');
      return;
    }
    if (!this.#responseBody) return this.#fail(502, 'error', 'the origin closed the connection without a response');
    if (this.#responseBody.closeDelimited) return this.#end();
    this.#fail(undefined, 'error', 'the origin closed the connection before the end of the response');
  }

  onError(socket: Socket, error: Error): void {
    if (this.#finished) return;
    const reset = errnoCode(error) === 'ECONNRESET';
    if (socket === this.#client) return this.#fail(undefined, reset ? 'reset' : 'error', `client connection failed: ${describeError(error)}`);
    this.#fail(this.#response ? undefined : 502, reset ? 'reset' : 'error', `origin connection failed: ${describeError(error)}`);
  }

  onClose(socket: Socket): void {
    if (this.#finished) return;
    if (socket === this.#client) this.#fail(undefined, 'aborted', 'client closed the connection');
    else this.onEnd(socket);
  }

  #end(): void {
    const status = this.#response?.status;
    this.#finish({ keepAlive: this.#keepAlive, rest: this.#rest, outcome: 'ok', result: 'ok', status, reply: undefined, cut: false });
  }

  /** `status`: answer with our own error (only before the origin's response began), else cut the client. */
  #fail(status: number | undefined, outcome: Outcome, why: string, detail = 'no valid response from the origin'): void {
    const reply = status !== undefined && !this.#response ? encodeHttpError(status, detail) : undefined;
    this.#finish({ keepAlive: false, rest: undefined, outcome, result: why, status: reply ? status : this.#response?.status, reply, cut: reply === undefined });
  }

  #finish(end: ForwardEnd): void {
    this.#finished = true;
    this.origin.destroy();
    this.#host.forwardEnded(end);
  }
}
