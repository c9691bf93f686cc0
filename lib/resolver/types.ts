/** The one name-resolution interface of socx: the server (CONNECT, BIND's expected peer, UDP datagrams) and the
 * clients (socks5:// and socks4://, where we resolve) take a Resolver; tests inject one. */

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** On success `addresses` holds at least one address; on error it is empty. Never called synchronously. */
export type LookupCallback = (error: NodeJS.ErrnoException | null, addresses: readonly ResolvedAddress[]) => void;

export interface Resolver {
  /** `client` is the requesting client's IP, for the per-client cap ('' when there is none, as in the clients).
   * Callback style: the server calls it from a synchronous state machine, and a promise per call is a cost. */
  lookup(host: string, client: string, callback: LookupCallback): void;
}

/** A Resolver that owns timers or sockets: `close()` fails what is pending with ECANCELLED and stops them. */
export interface ClosableResolver extends Resolver {
  close(): void;
}

/** Errno-style codes, so the server's one reply mapping (lib/errors.ts) handles a lookup like any socket error:
 * - ENOTFOUND: the name does not exist, or has no address of a wanted family;
 * - ETIMEOUT: our own deadline passed (distinct from EAI_AGAIN: the server answers 0x04 before the client's
 *   own patience runs out, and the log can say which);
 * - EAI_AGAIN: the name servers failed (SERVFAIL, refused, a bad response);
 * - ELOOKUPLIMIT: this client (or everyone) has too many lookups in flight; failed at once, nothing was sent;
 * - ECANCELLED: the resolver was closed. */
export type LookupErrorCode = 'ENOTFOUND' | 'ETIMEOUT' | 'EAI_AGAIN' | 'ELOOKUPLIMIT' | 'ECANCELLED';

export interface LookupError extends NodeJS.ErrnoException {
  readonly code: LookupErrorCode;
  readonly hostname: string;
}

export function lookupError(code: LookupErrorCode, hostname: string, message: string, cause?: unknown): LookupError {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: LookupErrorCode; hostname: string; syscall: string };
  error.code = code;
  error.hostname = hostname;
  error.syscall = 'lookup';
  return error;
}

export type FamilyOrder = 'ipv4first' | 'ipv6first';

/** A stable sort by family: the order each source gave is kept within a family. */
export function orderByFamily(addresses: readonly ResolvedAddress[], order: FamilyOrder): readonly ResolvedAddress[] {
  const first = order === 'ipv4first' ? 4 : 6;
  return Object.freeze([...addresses.filter((a) => a.family === first), ...addresses.filter((a) => a.family !== first)]);
}
