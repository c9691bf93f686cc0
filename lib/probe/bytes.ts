/** How the probe shows bytes a peer sent: everything here is peer-controlled, so nothing reaches a terminal
 * unescaped. */

import { safeText } from '../safe-text.ts';

/** "05 ff 00": at most `max` bytes, then "…". */
export function hexBytes(bytes: Uint8Array, max = 64): string {
  const shown = Buffer.from(bytes.subarray(0, max)).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return bytes.length > max ? `${shown} …` : shown;
}

/** Peer text in ASCII alone: every character outside printable ASCII written as an escape (\r, \n, \t, \xHH,
 * \uHHHH), and a backslash doubled so that nothing the peer sent can pass for an escape. For HTTP heads, read
 * one byte a character (latin1), where safeText would show a UTF-8 byte pair as two letters. */
export function escapeText(text: string): string {
  return text.replace(/[^\x20-\x5b\x5d-\x7e]/g, (char) => {
    switch (char) {
      case '\\': return '\\\\';
      case '\r': return '\\r';
      case '\n': return '\\n';
      case '\t': return '\\t';
      default: {
        const code = char.charCodeAt(0);
        return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
      }
    }
  });
}

/** A banner ("SSH-2.0-OpenSSH_9.2\r\n") as quoted text when it starts as text: its first line (up to `max`
 * bytes), every control character in it escaped by safeText, and a count of what follows; else hex. */
export function showBytes(bytes: Uint8Array, max = 64): string {
  const head = bytes.subarray(0, max);
  // A few printable bytes may be chance (a SOCKS4 reply's port); a banner starts with a word or more.
  if (!startsAsText(head)) return hexBytes(bytes, 16);
  const newline = head.indexOf(0x0a);
  const line = newline < 0 ? head : head.subarray(0, newline + 1);
  const rest = bytes.length - line.length;
  return `"${safeText(Buffer.from(line).toString('utf8'))}"${rest > 0 ? ` and ${rest} more bytes` : ''}`;
}

const TEXT_START = 4;

/** The first TEXT_START bytes (all of them, when fewer) are printable ASCII or tabs and line ends. */
function startsAsText(bytes: Uint8Array): boolean {
  return bytes.subarray(0, TEXT_START).every((byte) => (byte >= 0x20 && byte <= 0x7e) || byte === 0x09 || byte === 0x0d || byte === 0x0a);
}
