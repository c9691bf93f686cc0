import { need, done, type Decoded } from './decoded.ts';

/** The first byte of a connection says which protocol the client speaks (4 or 5); it is not consumed. */
export function peekVersion(buf: Uint8Array, offset = 0): Decoded<number> {
  const version = buf[offset];
  return version === undefined ? need(1) : done(version, 0);
}
