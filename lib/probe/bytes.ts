/** How the probe shows bytes a peer sent: everything here is peer-controlled, so nothing reaches a terminal
 * unescaped. */

/** "05 ff 00": at most `max` bytes, then "…". */
export function hexBytes(bytes: Uint8Array, max = 64): string {
  const shown = Buffer.from(bytes.subarray(0, max)).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return bytes.length > max ? `${shown} …` : shown;
}

/** Text with every byte outside printable ASCII written as an escape (\r, \n, \t, \xHH). */
export function escapeText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (char) => {
    switch (char) {
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

/** A banner ("SSH-2.0-OpenSSH_9.2\r\n") as quoted, escaped text when it starts with printable ASCII (tabs
 * allowed): its first line, and a count of what follows; else hex. */
export function showBytes(bytes: Uint8Array, max = 64): string {
  const head = bytes.subarray(0, max);
  // The first line: a banner says what it is there.
  let text = 0;
  while (text < head.length && isPrintable(head[text] ?? 0)) if (head[text++] === 0x0a) break;
  // A few printable bytes may be chance (a SOCKS4 reply's port); a banner is a line or more.
  if (text < 4 && text < bytes.length) return hexBytes(bytes, 16);
  const rest = bytes.length - text;
  return `"${escapeText(Buffer.from(head.subarray(0, text)).toString('latin1'))}"${rest > 0 ? ` and ${rest} more bytes` : ''}`;
}

function isPrintable(byte: number): boolean {
  return (byte >= 0x20 && byte <= 0x7e) || byte === 0x0d || byte === 0x0a || byte === 0x09;
}
