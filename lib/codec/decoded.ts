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

export function need<T>(bytes: number): Decoded<T> {
  return { done: false, need: bytes };
}

export function done<T>(value: T, length: number): Decoded<T> {
  return { done: true, value, length };
}
