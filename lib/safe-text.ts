/** Text a peer controls, made safe for a log line or a terminal: control characters (C0, DEL, C1 — so no
 * newline can forge a line and no escape sequence reaches a terminal), backslashes, and the bidirectional
 * and zero-width formatting marks are written as \xNN / \u{NNNN}. Printable text, UTF-8 included, stays. */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\\\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ufffd]/gu;

export function safeText(text: string): string {
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(text)) return text;
  return text.replace(UNSAFE, (char) => {
    if (char === '\\') return '\\\\';
    const code = char.codePointAt(0) ?? 0;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** Peer text as one space-separated word of a log line: safeText, and a space as \x20, so that a name cannot
 * make fields of its own ("h up=9.9GiB" is not a byte count). */
export function safeWord(text: string): string {
  return safeText(text).replaceAll(' ', '\\x20');
}
