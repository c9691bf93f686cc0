import { hexByte, replyName, Reply, socks4ReplyName } from './codec/constants.ts';
import { CodecError } from './codec/decoded.ts';

/** Stable error codes, as curl's CURLPX_* are: scripts and exit codes depend on them, messages may change. */
export type ErrorCode =
  | 'usage'
  | 'proxy-unreachable'
  | 'proxy-closed'
  | 'timeout'
  | 'protocol'
  | 'no-acceptable-method'
  | 'auth-failed'
  | 'request-rejected'
  | 'network'
  | 'not-allowed'
  | 'limit'
  | 'aborted'
  /** stdout would not take the data or the result: a full disk, a pipe whose reader has gone. */
  | 'output';

export type Phase = 'setup' | 'connect' | 'greeting' | 'auth' | 'request' | 'second-reply' | 'relay' | 'udp';

export type ProxyReply = SocksReply | HttpReply;

export interface SocksReply {
  readonly version: 4 | 5;
  readonly code: number;
  /** The proxy closed the connection partway through the reply, after its code (`05 05`, `05 07 00 01`). */
  readonly short?: boolean;
}

/** An HTTP proxy's answer to CONNECT: the status code and its reason phrase, already escaped for printing. */
export interface HttpReply {
  readonly version: 'http';
  readonly code: number;
  readonly reason: string;
}

export interface SocxErrorDetails {
  readonly phase?: Phase;
  readonly reply?: ProxyReply;
  readonly proxy?: string;
  /** Which hop of a chain (1 = the first) failed; absent with a single proxy. */
  readonly hop?: number;
  /** The hop that failed is not the last: what it was asked to reach is the next hop, not the target. */
  readonly beforeLastHop?: boolean;
  readonly target?: string;
  readonly cause?: unknown;
}

export class SocxError extends Error {
  override readonly name = 'SocxError';
  readonly code: ErrorCode;
  readonly phase: Phase;
  readonly reply: ProxyReply | undefined;
  readonly proxy: string | undefined;
  readonly hop: number | undefined;
  readonly beforeLastHop: boolean;
  readonly target: string | undefined;

  constructor(code: ErrorCode, message: string, details: SocxErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.phase = details.phase ?? 'setup';
    this.reply = details.reply;
    this.proxy = details.proxy;
    this.hop = details.hop;
    this.beforeLastHop = details.beforeLastHop ?? false;
    this.target = details.target;
  }
}

export function usageError(message: string): SocxError {
  return new SocxError('usage', message);
}

/** The contract's exit codes (../shared/CONTRACT.md). */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof SocxError)) return 1;
  switch (error.code) {
    case 'usage': return 2;
    case 'no-acceptable-method':
    case 'auth-failed': return 3;
    case 'request-rejected': return 4;
    // A reply cut short after its code: the connection broke, but the proxy had said no.
    case 'proxy-closed': return error.reply ? 4 : 1;
    default: return 1;
  }
}

export function describeReply(reply: ProxyReply): string {
  if (reply.version === 'http') return `${reply.code}${reply.reason === '' ? '' : ` ${reply.reason}`} (HTTP)`;
  const name = reply.version === 5 ? replyName(reply.code) : socks4ReplyName(reply.code);
  return `${name} (SOCKS${reply.version} reply ${hexByte(reply.code)}${reply.short ? ', short reply' : ''})`;
}

/** One line for a person: what failed and, where we can tell, how to fix it. */
export function describeError(error: unknown): string {
  if (error instanceof SocxError) {
    if ((error.code === 'request-rejected' || error.code === 'proxy-closed') && error.reply) return `${refuser(error)} refused: ${describeReply(error.reply)}`;
    return error.message;
  }
  if (error instanceof CodecError) return `malformed SOCKS message: ${error.message}`;
  const code = errnoCode(error);
  if (code) return `${socketErrorText(code)} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** "proxy", or in a chain the hop that said no: "hop 2 (socks5h://b:1080)". */
function refuser(error: SocxError): string {
  return error.hop === undefined ? 'proxy' : `hop ${error.hop} (${error.proxy ?? 'proxy'})`;
}

/** The errno-style code of a system error (ECONNREFUSED, EAI_AGAIN, …); undefined for anything else, such as
 * a SocxError, whose `code` is ours. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error) || typeof error.code !== 'string') return undefined;
  return /^E(?!RR_)[A-Z0-9_]+$/.test(error.code) ? error.code : undefined;
}

const socketErrors: Readonly<Record<string, { reply: number; text: string }>> = {
  ECONNREFUSED: { reply: Reply.CONNECTION_REFUSED, text: 'connection refused' },
  ECONNRESET: { reply: Reply.GENERAL_FAILURE, text: 'connection reset' },
  ENETUNREACH: { reply: Reply.NETWORK_UNREACHABLE, text: 'network unreachable' },
  ENETDOWN: { reply: Reply.NETWORK_UNREACHABLE, text: 'network is down' },
  EHOSTUNREACH: { reply: Reply.HOST_UNREACHABLE, text: 'host unreachable' },
  EHOSTDOWN: { reply: Reply.HOST_UNREACHABLE, text: 'host is down' },
  ENOTFOUND: { reply: Reply.HOST_UNREACHABLE, text: 'host name not found' },
  EAI_AGAIN: { reply: Reply.HOST_UNREACHABLE, text: 'temporary failure resolving the host name' },
  EAI_NODATA: { reply: Reply.HOST_UNREACHABLE, text: 'host name has no address' },
  EAI_FAIL: { reply: Reply.HOST_UNREACHABLE, text: 'host name lookup failed' },
  ETIMEDOUT: { reply: Reply.TTL_EXPIRED, text: 'timed out' },
  // A name lookup that ran out of time: the host could not be reached, the connection itself did not time out.
  ETIMEOUT: { reply: Reply.HOST_UNREACHABLE, text: 'name lookup timed out' },
  ELOOKUPLIMIT: { reply: Reply.GENERAL_FAILURE, text: 'too many name lookups in flight' },
  ECANCELLED: { reply: Reply.GENERAL_FAILURE, text: 'cancelled' },
  EMFILE: { reply: Reply.GENERAL_FAILURE, text: 'too many open files' },
  ENFILE: { reply: Reply.GENERAL_FAILURE, text: 'too many open files in the system' },
  EAFNOSUPPORT: { reply: Reply.ADDRESS_TYPE_NOT_SUPPORTED, text: 'address family not supported' },
  EADDRNOTAVAIL: { reply: Reply.HOST_UNREACHABLE, text: 'address not available' },
  EACCES: { reply: Reply.NOT_ALLOWED, text: 'permission denied' },
  EPERM: { reply: Reply.NOT_ALLOWED, text: 'operation not permitted' },
  EADDRINUSE: { reply: Reply.GENERAL_FAILURE, text: 'address already in use' },
  EINVAL: { reply: Reply.GENERAL_FAILURE, text: 'the system refused the address for this socket (invalid argument)' },
  EPIPE: { reply: Reply.GENERAL_FAILURE, text: 'broken pipe' },
  // What a write to stdout meets when it is a file: the relay's own side in connect, a command's results.
  ENOSPC: { reply: Reply.GENERAL_FAILURE, text: 'no space left on device' },
  EDQUOT: { reply: Reply.GENERAL_FAILURE, text: 'disk quota exceeded' },
  EFBIG: { reply: Reply.GENERAL_FAILURE, text: 'file too large' },
  EIO: { reply: Reply.GENERAL_FAILURE, text: 'input/output error' },
};

/** RFC 1928 §6 reply for a failed upstream operation, from the socket error's `code` (never its text). */
export function socketErrorToReply(code: string | undefined): number {
  return (code === undefined ? undefined : socketErrors[code]?.reply) ?? Reply.GENERAL_FAILURE;
}

export function socketErrorText(code: string | undefined): string {
  if (code === undefined) return 'unknown error';
  return socketErrors[code]?.text ?? code.toLowerCase();
}

const fileErrors: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'file name too long',
  // Writes (--log-file): the disk, not the path.
  ENOSPC: 'no space left on the device',
  EDQUOT: 'over the disk quota',
  EFBIG: 'file too large',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
};

/** Words for a failed file read (config, users file) or write (--log-file), from the error's `code`. */
export function fileErrorText(error: unknown): string {
  const code = errnoCode(error);
  return (code === undefined ? undefined : fileErrors[code]) ?? code?.toLowerCase() ?? 'cannot be read';
}
