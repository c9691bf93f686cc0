import { CodecError, done, need, printable, type Decoded } from './decoded.ts';

/** One header field as sent: the name keeps its case (compare with `headerValues`), the value has its
 * surrounding whitespace removed. Bytes are kept one to one (latin1), as RFC 9110 §5.5 treats them. */
export interface HttpHeader { readonly name: string; readonly value: string }

/**
 * An HTTP/1.x message head (RFC 9112 §2.1): the start line split in three at its first two spaces — a
 * request's method, target and version, or a response's version, status and reason (which may hold spaces,
 * or be empty) — and the header fields in order.
 */
export interface HttpHead {
  readonly start: readonly [string, string, string];
  readonly headers: readonly HttpHeader[];
}

export interface HttpRequestHead {
  readonly method: string;
  readonly target: string;
  readonly version: HttpVersion;
  readonly headers: readonly HttpHeader[];
}

export interface HttpResponseHead {
  readonly version: HttpVersion;
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly HttpHeader[];
}

export interface HttpVersion { readonly major: 1; readonly minor: number }

/** A head bigger than this is refused rather than buffered (squid's default limit is 64 KiB, Node's 16 KiB). */
export const MAX_HTTP_HEAD = 16 * 1024;

const LF = 0x0a;
const CR = 0x0d;
// RFC 9110 §5.6.2: tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A field value may hold visible characters, spaces, tabs and obs-text; never NUL, CR, LF or other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const VERSION = /^HTTP\/1\.(\d)$/;

function bad(message: string): CodecError {
  return new CodecError('bad-syntax', message);
}

/**
 * Decodes a message head ending in an empty line. Lines end in CRLF; a bare LF is taken as a line end too
 * (RFC 9112 §2.2 allows it), a bare CR is refused, as are obs-folded lines and whitespace before a field's
 * colon (§5.1, §5.2: both are request-smuggling vectors). Empty lines before a request line are skipped
 * (§2.2). Needs more until the empty line arrives; longer than `maxBytes` without one is `too-long`.
 * `checkStart` sees the start line's bytes so far on every call, so that what cannot begin the line expected
 * fails as it arrives: a peer speaking something else may never send an empty line.
 */
export function decodeHttpHead(buf: Uint8Array, offset = 0, maxBytes = MAX_HTTP_HEAD, checkStart?: (bytes: Buffer, start: number) => void): Decoded<HttpHead> {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let start = offset;
  while (bytes[start] === CR || bytes[start] === LF) {
    if (bytes[start] === CR && start + 1 >= bytes.length) return need(1);
    if (bytes[start] === CR && bytes[start + 1] !== LF) throw bad('bare CR before the start line');
    start += bytes[start] === CR ? 2 : 1;
  }
  checkStart?.(bytes, start);
  const end = headEnd(bytes, start, offset + maxBytes);
  if (end === undefined) {
    if (bytes.length - offset > maxBytes) throw new CodecError('too-long', `HTTP head is longer than ${maxBytes} bytes`);
    return need(1);
  }
  const lines = bytes.toString('latin1', start, end.linesEnd).split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  for (const line of lines) if (line.includes('\r')) throw bad('bare CR in the HTTP head');
  const [startLine = '', ...fields] = lines;
  return done({ start: splitStartLine(startLine), headers: fields.map(parseField) }, end.after - offset);
}

/** Where the empty line is: `linesEnd` is the end of the last header line (its line end excluded), `after`
 * the first byte behind the head. */
function headEnd(bytes: Buffer, from: number, limit: number): { linesEnd: number; after: number } | undefined {
  let at = bytes.indexOf(LF, from);
  while (at >= 0 && at < limit) {
    const next = bytes[at + 1];
    if (next === LF) return { linesEnd: at, after: at + 2 };
    if (next === CR && bytes[at + 2] === LF) return { linesEnd: at, after: at + 3 };
    if (next === undefined || (next === CR && at + 2 >= bytes.length)) return undefined;
    at = bytes.indexOf(LF, at + 1);
  }
  return undefined;
}

/** A missing third part is read as empty: RFC 9112 §4 wants the space before an empty reason phrase, but
 * proxies in the wild send `HTTP/1.1 200`; a request without a version still fails the request's check. */
function splitStartLine(line: string): [string, string, string] {
  const first = line.indexOf(' ');
  const second = first < 0 ? -1 : line.indexOf(' ', first + 1);
  if (first <= 0 || first === line.length - 1 || second === first + 1) throw bad(`HTTP start line is not three parts: "${printable(line, 64)}"`);
  return second < 0 ? [line.slice(0, first), line.slice(first + 1), ''] : [line.slice(0, first), line.slice(first + 1, second), line.slice(second + 1)];
}

function parseField(line: string): HttpHeader {
  if (line.startsWith(' ') || line.startsWith('\t')) throw bad('obsolete line folding in an HTTP header');
  const colon = line.indexOf(':');
  const name = colon < 0 ? line : line.slice(0, colon);
  if (colon < 0 || !TOKEN.test(name)) throw bad(`bad HTTP header field name: "${printable(name, 64)}"`);
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
  if (!FIELD_VALUE.test(value)) throw bad(`control character in HTTP header "${name}"`);
  return { name, value };
}

function parseVersion(text: string): HttpVersion {
  const match = VERSION.exec(text);
  if (!match) throw bad(`unsupported HTTP version "${printable(text)}"`);
  return { major: 1, minor: Number(match[1]) };
}

const TCHAR = new Uint8Array(128).map((_, code) => Number(TOKEN.test(String.fromCharCode(code))));

/** The request line so far is a token up to its first space, as a method is: SOCKS bytes on a kept-alive
 * connection fail at once, not at the deadline. */
function checkMethodStart(bytes: Buffer, start: number): void {
  for (let at = start; at < bytes.length && bytes[at] !== 0x20; at++) {
    if (TCHAR[bytes[at]!] !== 1) throw bad('the request does not begin with an HTTP method');
  }
}

/** A request head: a token method, a target without spaces (its form is the caller's business), HTTP/1.x. */
export function decodeHttpRequestHead(buf: Uint8Array, offset = 0, maxBytes = MAX_HTTP_HEAD): Decoded<HttpRequestHead> {
  const decoded = decodeHttpHead(buf, offset, maxBytes, checkMethodStart);
  if (!decoded.done) return decoded;
  const [method, target, version] = decoded.value.start;
  if (!TOKEN.test(method)) throw bad(`bad HTTP method "${printable(method, 32)}"`);
  if (target === '' || !/^[\x21-\x7e]+$/.test(target)) throw bad('bad HTTP request target');
  return done({ method, target, version: parseVersion(version), headers: decoded.value.headers }, decoded.length);
}

const HTTP_NAME = Buffer.from('HTTP/');

/** The status line so far is the start of "HTTP/" (RFC 9112 §4). */
function checkStatusStart(bytes: Buffer, start: number): void {
  const have = Math.min(bytes.length - start, HTTP_NAME.length);
  if (Buffer.compare(bytes.subarray(start, start + have), HTTP_NAME.subarray(0, have)) !== 0) throw bad('the answer is not an HTTP response: it does not begin with "HTTP/"');
}

/** A response head: HTTP/1.x, a three-digit status, any reason phrase; what cannot begin a status line fails
 * as it arrives. */
export function decodeHttpResponseHead(buf: Uint8Array, offset = 0, maxBytes = MAX_HTTP_HEAD): Decoded<HttpResponseHead> {
  const decoded = decodeHttpHead(buf, offset, maxBytes, checkStatusStart);
  if (!decoded.done) return decoded;
  const [version, status, reason] = decoded.value.start;
  if (!/^\d{3}$/.test(status)) throw bad(`bad HTTP status "${printable(status)}"`);
  if (!FIELD_VALUE.test(reason)) throw bad('control character in the HTTP reason phrase');
  return done({ version: parseVersion(version), status: Number(status), reason, headers: decoded.value.headers }, decoded.length);
}

/** Every value of the fields named `name` (case-insensitive), in order. */
export function headerValues(headers: readonly HttpHeader[], name: string): string[] {
  const wanted = name.toLowerCase();
  return headers.filter((header) => header.name.toLowerCase() === wanted).map((header) => header.value);
}

/** The head's bytes, CRLF line ends, an empty line last. Values that could not be sent as they are (a line
 * end inside, a name that is not a token) are a programming error: TypeError. */
export function encodeHttpHead(head: HttpHead): Buffer {
  const [a, b, c] = head.start;
  if (![a, b].every((part) => part !== '' && !/[\s]/.test(part)) || /[\r\n]/.test(c)) throw new TypeError('HTTP start line parts must be non-empty, without spaces or line ends');
  let text = `${a} ${b} ${c}\r\n`;
  for (const { name, value } of head.headers) {
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) throw new TypeError(`HTTP header "${name}" cannot be encoded`);
    text += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${text}\r\n`, 'latin1');
}

export function encodeHttpRequestHead(head: Omit<HttpRequestHead, 'version'> & { readonly version?: HttpVersion }): Buffer {
  const { major, minor } = head.version ?? { major: 1, minor: 1 };
  return encodeHttpHead({ start: [head.method, head.target, `HTTP/${major}.${minor}`], headers: head.headers });
}

export function encodeHttpResponseHead(head: Omit<HttpResponseHead, 'version'> & { readonly version?: HttpVersion }): Buffer {
  const { major, minor } = head.version ?? { major: 1, minor: 1 };
  if (!Number.isInteger(head.status) || head.status < 100 || head.status > 999) throw new TypeError(`bad HTTP status ${head.status}`);
  return encodeHttpHead({ start: [`HTTP/${major}.${minor}`, String(head.status), head.reason], headers: head.headers });
}
