/** What every decoder returns: a message and the bytes it used, or how many more bytes it needs at least.
 * Running short is a normal result; only malformed input throws, and only a CodecError. */
export type Decoded<T> =
  | { readonly done: true; readonly value: T; readonly length: number }
  | { readonly done: false; readonly need: number };

export type Decoder<T> = (buf: Uint8Array, offset?: number) => Decoded<T>;

export type CodecErrorCode =
  | 'bad-version'
  | 'bad-address-type'
  | 'bad-length'
  | 'bad-reserved'
  | 'bad-syntax'
  | 'too-long'
  // Our own message came back: an echo service, not a SOCKS server
  | 'echo'
  // PROXY protocol headers
  | 'bad-signature'
  | 'bad-command';

export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly code: CodecErrorCode;
  constructor(code: CodecErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The first bytes of a peer's bad field, to quote in a CodecError's message: only visible ASCII, anything
 * else (a space, a control character) as "?", so that the quote is one word wherever the message is shown (a
 * log line splits its fields at spaces). */
export function printable(text: string, max = 16): string {
  return text.slice(0, max).replace(/[^\x21-\x7e]/g, '?');
}

export function need<T>(bytes: number): Decoded<T> {
  return { done: false, need: bytes };
}

export function done<T>(value: T, length: number): Decoded<T> {
  return { done: true, value, length };
}

/** The decoder for the answer to `sent`, the first message of a handshake: bytes that begin with all of `sent`
 * are that message coming back (an echo service, not a SOCKS server), whatever `decode` would make of them —
 * an echoed `05 01 00` reads as "GSSAPI chosen", an echoed SOCKS4 request as a reply with code 1. Only for a
 * message whose answer is shorter than it and is followed by nothing until we speak again, so that no real
 * answer can match: the SOCKS5 greeting (2 bytes back, RFC 1928 §3) and the SOCKS4 request (8 bytes back,
 * with data behind them only after a grant, whose CD 0x5A no request has).
 *
 * An echo may arrive split across TCP segments: bytes that are only the start of `sent` wait for the rest,
 * unless what they decode to is an answer `sent` may get (`answers`) — `05 01` to a greeting offering GSSAPI
 * cannot be told from a grant. A server that answers `05 01` to a greeting that did not offer it is then
 * waited on until the caller's deadline, as if silent: the price of catching the echo. */
export function replyTo<T>(sent: Uint8Array, what: string, decode: Decoder<T>, answers: (value: T) => boolean): Decoder<T> {
  return (buf, offset = 0) => {
    const have = Math.min(buf.length - offset, sent.length);
    const echoing = Buffer.compare(buf.subarray(offset, offset + have), sent.subarray(0, have)) === 0;
    if (echoing && have === sent.length) throw new CodecError('echo', `the ${what} came back unchanged, as from an echo service`);
    const decoded = decode(buf, offset);
    return echoing && decoded.done && !answers(decoded.value) ? need(sent.length - have) : decoded;
  };
}
