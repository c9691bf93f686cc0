import { CodecError } from '../codec/decoded.ts';
import { SocxError } from '../errors.ts';
import type { MessageReader } from '../message-reader.ts';
import { httpStatusLine, shortRefusal } from './failed-reply.ts';
import { hopDetails, hopName, type Hop } from './hop.ts';
import { describeProxy } from './proxy-url.ts';

/** Fails the reader's pending read when the deadline passes or the caller aborts; returns the undo. */
export function bound(reader: MessageReader, hop: Hop, { timeoutMs, signal }: { readonly timeoutMs: number; readonly signal?: AbortSignal | undefined }): () => void {
  const timer = setTimeout(() => reader.fail(new SocxError('timeout', `${hopName(hop, `proxy ${describeProxy(hop.proxy)}`)} did not answer within ${timeoutMs} ms`, hopDetails(hop))), timeoutMs);
  const onAbort = (): void => reader.fail(new SocxError('aborted', 'cancelled'));
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  return () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
}

/** A SOCKS5 method selection or a SOCKS4 reply, where an HTTP answer was expected. */
function looksLikeSocks(received: Buffer): boolean {
  return (received[0] === 0x05 && received.length <= 10) || (received[0] === 0x00 && received[1] !== undefined && received[1] >= 0x5a && received[1] <= 0x5d);
}

/** A reply's name says nothing where a user needs to hear what answered instead, or that the proxy said no
 * before it hung up; in a chain, every error names its hop. `received`: the bytes of the message that
 * failed. */
export function asClientError(error: unknown, hop: Hop, received: Buffer): unknown {
  const { proxy } = hop;
  const details = { ...hopDetails(hop), cause: error };
  const name = hopName(hop, describeProxy(proxy));
  if (proxy.kind === 'http' && looksLikeSocks(received)) {
    return new SocxError('protocol', `${hopName(hop, `proxy ${describeProxy(proxy)}`)} answered in SOCKS, not HTTP: is it a SOCKS proxy (socks5h://)?`, details);
  }
  if (error instanceof CodecError) {
    const http = proxy.kind === 'socks' ? httpStatusLine(received) : undefined;
    if (http !== undefined) return new SocxError('protocol', `${hopName(hop, `proxy ${describeProxy(proxy)}`)} answered HTTP, not SOCKS ("${http}"): is it a web server or an HTTP proxy?`, details);
    const speaks = proxy.kind === 'socks' ? `SOCKS${proxy.version}` : 'HTTP';
    return new SocxError('protocol', `${name} does not speak ${speaks} as expected: ${error.message}`, details);
  }
  if (!(error instanceof SocxError)) return error;
  const midReply = (error.code === 'proxy-closed' || error.code === 'network') && (error.phase === 'request' || error.phase === 'second-reply');
  const reply = midReply && proxy.kind === 'socks' ? shortRefusal(received, proxy.version) : undefined;
  if (reply) {
    return new SocxError('proxy-closed', `${name} closed the connection ${received.length} bytes into its reply`, { ...details, phase: error.phase, reply });
  }
  if (hop.count === 1 || error.hop !== undefined || error.code === 'aborted') return error;
  return new SocxError(error.code, error.message, { ...details, phase: error.phase, ...(error.reply ? { reply: error.reply } : {}) });
}
