// TEMPORARY: the client branch defines Trace (lib/client/hop.ts) and methodToken (lib/client/socks-handshake.ts);
// this file goes when that lands.
import { hexByte, Method } from '../codec/constants.ts';
import { safeText } from '../safe-text.ts';
import { formatAddress } from '../codec/address.ts';

export type Trace = (line: string) => void;

const methodTokens: Readonly<Record<number, string>> = { [Method.NONE]: 'none', [Method.GSSAPI]: 'gssapi', [Method.USERPASS]: 'userpass', [Method.NO_ACCEPTABLE]: 'none-acceptable' };

export function methodToken(code: number): string {
  return methodTokens[code] ?? hexByte(code);
}

export function traceAddress(address: { host: string; port: number }): string {
  return safeText(formatAddress(address));
}
