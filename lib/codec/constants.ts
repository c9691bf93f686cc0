/** Wire constants of SOCKS4/4a (the de-facto spec, "SOCKS: A protocol for TCP proxy across firewalls"),
 * SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929). */

export const Version = { SOCKS4: 0x04, SOCKS5: 0x05, USERPASS: 0x01 } as const;

/** RFC 1928 §3 METHOD values. */
export const Method = {
  NONE: 0x00,
  GSSAPI: 0x01,
  USERPASS: 0x02,
  NO_ACCEPTABLE: 0xff,
} as const;

/** RFC 1928 §4 CMD values; SOCKS4 uses 1 and 2 for the same two. */
export const Command = { CONNECT: 0x01, BIND: 0x02, UDP_ASSOCIATE: 0x03 } as const;
export type CommandName = 'connect' | 'bind' | 'udp';

/** RFC 1928 §5 ATYP values. */
export const AddressType = { IPV4: 0x01, DOMAIN: 0x03, IPV6: 0x04 } as const;

/** RFC 1928 §6 REP values. */
export const Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

/** SOCKS4 CD values in a reply. */
export const Socks4Reply = {
  GRANTED: 0x5a,
  REJECTED: 0x5b,
  NO_IDENTD: 0x5c,
  IDENTD_MISMATCH: 0x5d,
} as const;

/** RFC 1929 §2 STATUS: 0 is success, anything else is failure. */
export const AuthStatus = { SUCCESS: 0x00, FAILURE: 0x01 } as const;

const replyNames: Readonly<Record<number, string>> = {
  [Reply.SUCCEEDED]: 'succeeded',
  [Reply.GENERAL_FAILURE]: 'general SOCKS server failure',
  [Reply.NOT_ALLOWED]: 'connection not allowed by ruleset',
  [Reply.NETWORK_UNREACHABLE]: 'network unreachable',
  [Reply.HOST_UNREACHABLE]: 'host unreachable',
  [Reply.CONNECTION_REFUSED]: 'connection refused',
  [Reply.TTL_EXPIRED]: 'TTL expired',
  [Reply.COMMAND_NOT_SUPPORTED]: 'command not supported',
  [Reply.ADDRESS_TYPE_NOT_SUPPORTED]: 'address type not supported',
};

const socks4ReplyNames: Readonly<Record<number, string>> = {
  [Socks4Reply.GRANTED]: 'request granted',
  [Socks4Reply.REJECTED]: 'request rejected or failed',
  [Socks4Reply.NO_IDENTD]: 'request rejected: cannot connect to identd on the client',
  [Socks4Reply.IDENTD_MISMATCH]: 'request rejected: identd reports a different user-id',
};

const methodNames: Readonly<Record<number, string>> = {
  [Method.NONE]: 'no authentication',
  [Method.GSSAPI]: 'GSSAPI',
  [Method.USERPASS]: 'username/password',
  [Method.NO_ACCEPTABLE]: 'no acceptable methods',
};

const hex = (code: number): string => `0x${code.toString(16).padStart(2, '0')}`;

/** The RFC wording for a SOCKS5 REP code; unknown codes are data, not errors. */
export function replyName(code: number): string {
  return replyNames[code] ?? `unknown reply ${hex(code)}`;
}

export function socks4ReplyName(code: number): string {
  return socks4ReplyNames[code] ?? `unknown reply ${hex(code)}`;
}

export function methodName(code: number): string {
  return methodNames[code] ?? `method ${hex(code)}`;
}

export function commandName(code: number): CommandName | undefined {
  switch (code) {
    case Command.CONNECT: return 'connect';
    case Command.BIND: return 'bind';
    case Command.UDP_ASSOCIATE: return 'udp';
    default: return undefined;
  }
}

export { hex as hexByte };
