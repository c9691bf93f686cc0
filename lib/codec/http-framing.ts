import { CodecError } from './decoded.ts';
import { headerValues, type HttpHeader, type HttpVersion } from './http-head.ts';

/** Where a message body ends (RFC 9112 §6.3): no body, a byte count, the last chunk, or the close. */
export type Framing =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

const NONE: Framing = { kind: 'none' };

function bad(message: string): CodecError {
  return new CodecError('bad-length', message);
}

/** The one Content-Length a message may have: digits only, one field, one value. A list, even of equal
 * values, is refused (RFC 9112 §6.3 lets a recipient do so), as is anything a peer could read differently. */
function contentLength(headers: readonly HttpHeader[]): number | undefined {
  const values = headerValues(headers, 'content-length');
  if (values.length === 0) return undefined;
  const [value] = values;
  if (values.length > 1 || value === undefined || !/^\d{1,15}$/.test(value)) throw bad('bad Content-Length');
  return Number(value);
}

/** The transfer codings named, in order, lower case. */
function transferCodings(headers: readonly HttpHeader[]): string[] {
  return headerValues(headers, 'transfer-encoding').flatMap((value) => value.split(',')).map((coding) => coding.trim().toLowerCase()).filter((coding) => coding !== '');
}

/**
 * A request's body framing. The ambiguous cases behind request smuggling are errors (RFC 9112 §6.1, §6.3):
 * Transfer-Encoding with Content-Length, Transfer-Encoding whose last coding is not chunked, Transfer-Encoding
 * in HTTP/1.0, a malformed or repeated Content-Length.
 */
export function requestFraming(version: HttpVersion, headers: readonly HttpHeader[]): Framing {
  const codings = transferCodings(headers);
  const length = contentLength(headers);
  if (headerValues(headers, 'transfer-encoding').length > 0) {
    if (length !== undefined) throw bad('both Transfer-Encoding and Content-Length');
    if (version.minor === 0) throw bad('Transfer-Encoding in an HTTP/1.0 request');
    if (codings.at(-1) !== 'chunked') throw bad('Transfer-Encoding does not end in chunked');
    return { kind: 'chunked' };
  }
  return length === undefined || length === 0 ? NONE : { kind: 'length', length };
}

/**
 * A response's body framing (RFC 9112 §6.3): none after HEAD and for 1xx, 204 and 304; else chunked, a
 * length, or until the close. Both Transfer-Encoding and Content-Length is an error here too: a response
 * that two readers could split differently is not passed on.
 */
export function responseFraming(requestMethod: string, status: number, headers: readonly HttpHeader[]): Framing {
  if (requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304) return NONE;
  const codings = transferCodings(headers);
  const length = contentLength(headers);
  if (headerValues(headers, 'transfer-encoding').length > 0) {
    if (length !== undefined) throw bad('both Transfer-Encoding and Content-Length');
    return codings.at(-1) === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  return length === undefined ? { kind: 'close' } : length === 0 ? NONE : { kind: 'length', length };
}

// The scanner's states.
const SIZE = 0;
const EXTENSION = 1;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER = 6;
const TRAILER_LF = 7;
const DONE = 8;

const CR = 0x0d;
const LF = 0x0a;

/** A chunk-size line (with extensions) or a trailer line longer than this is refused. */
const MAX_LINE = 8 * 1024;
/** Trailer section bytes at most. */
const MAX_TRAILERS = 16 * 1024;

/** A control character other than HTAB: never part of an extension or a trailer field (RFC 9110 §5.5). */
const isControl = (byte: number): boolean => (byte < 0x20 && byte !== 0x09) || byte === 0x7f;

/**
 * Finds where a chunked body (RFC 9112 §7.1) ends, fed in pieces as they arrive, and where each chunk's data
 * lies (to unwrap it for an HTTP/1.0 recipient). Sizes are hex of at most 15 digits; extensions and trailers
 * are skipped, with bounds. Every line ends in CRLF and nothing else: the body is passed on as it came, so a
 * bare LF or CR, or a control character in an extension or a trailer, which parsers read differently (the
 * request-smuggling cases of RFC 9112 §11.2), is refused rather than sent on.
 */
export class ChunkedScanner {
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #line = 0;
  #trailerBytes = 0;
  #lineEmpty = true;

  get done(): boolean {
    return this.#state === DONE;
  }

  /** Scans `buf[start..end)`; returns the bytes that belong to the body (all of them, until the end is
   * found). `data` gets each run of chunk data as [from, to) offsets into `buf`. */
  scan(buf: Uint8Array, start = 0, end = buf.length, data?: (from: number, to: number) => void): number {
    let at = start;
    while (at < end && this.#state !== DONE) {
      if (this.#state === DATA) {
        const take = Math.min(this.#size, end - at);
        data?.(at, at + take);
        at += take;
        this.#size -= take;
        if (this.#size === 0) this.#state = DATA_CR;
        continue;
      }
      this.#byte(buf[at] ?? 0);
      at++;
    }
    return at - start;
  }

  #byte(byte: number): void {
    switch (this.#state) {
      case SIZE: return this.#sizeByte(byte);
      case EXTENSION:
        if (++this.#line > MAX_LINE) throw bad('chunk extension too long');
        if (byte === CR) this.#state = SIZE_LF;
        else if (isControl(byte)) throw bad('control character in a chunk extension');
        return;
      case SIZE_LF:
        if (byte !== LF) throw bad('bare CR in a chunk size line');
        return this.#sizeEnd();
      case DATA_CR:
        if (byte !== CR) throw bad('chunk data not followed by CRLF');
        this.#state = DATA_LF;
        return;
      case DATA_LF:
        if (byte !== LF) throw bad('chunk data not followed by CRLF');
        this.#state = SIZE;
        return;
      case TRAILER: return this.#trailerByte(byte);
      case TRAILER_LF:
        if (byte !== LF) throw bad('bare CR in a chunked trailer');
        if (this.#lineEmpty) this.#state = DONE;
        else this.#state = TRAILER;
        this.#lineEmpty = true;
        this.#line = 0;
        return;
      default: return;
    }
  }

  #sizeByte(byte: number): void {
    const digit = hexValue(byte);
    if (digit >= 0) {
      if (++this.#digits > 15) throw bad('chunk size too large');
      this.#size = this.#size * 16 + digit;
      return;
    }
    if (this.#digits === 0) throw bad('chunk size is not hex');
    if (byte === CR) this.#state = SIZE_LF;
    else if (byte === 0x3b || byte === 0x20 || byte === 0x09) {
      this.#state = EXTENSION;
      this.#line = 0;
    } else throw bad('bad character in a chunk size');
  }

  #sizeEnd(): void {
    this.#digits = 0;
    if (this.#size > 0) {
      this.#state = DATA;
      return;
    }
    this.#state = TRAILER;
    this.#line = 0;
    this.#lineEmpty = true;
  }

  /** Trailer lines until an empty one; their content is not interpreted (and not forwarded separately). */
  #trailerByte(byte: number): void {
    if (++this.#trailerBytes > MAX_TRAILERS) throw bad('chunked trailers too long');
    if (byte === CR) {
      this.#state = TRAILER_LF;
      return;
    }
    if (isControl(byte)) throw bad('control character in a chunked trailer');
    if (++this.#line > MAX_LINE) throw bad('chunked trailer line too long');
    this.#lineEmpty = false;
  }
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}
