import { isIP, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { SocxError } from '../errors.ts';
import { hopDetails, hopName, type Hop } from './hop.ts';
import { describeProxy } from './proxy-url.ts';

/** https:// proxies: TLS with the proxy itself over the connection that reaches it, the certificate checked
 * against the system's CAs (and NODE_EXTRA_CA_CERTS) for the host in the URL, as curl does. The TLS socket
 * keeps the connection's half-close. */
export function startTls(link: { socket: Socket; head: Buffer }, hop: Hop, { timeoutMs, signal }: { readonly timeoutMs: number; readonly signal?: AbortSignal | undefined }): Promise<{ socket: TLSSocket; head: Buffer }> {
  const { proxy } = hop;
  const name = hopName(hop, `proxy ${describeProxy(proxy)}`);
  if (link.head.length > 0) {
    link.socket.destroy();
    return Promise.reject(new SocxError('protocol', `${name} sent ${link.head.length} bytes before the TLS handshake`, { phase: 'connect', ...hopDetails(hop) }));
  }
  const socket = connectTls({ socket: link.socket, ...(isIP(proxy.host) === 0 ? { servername: proxy.host } : {}), ALPNProtocols: ['http/1.1'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new SocxError('timeout', `${name} did not complete the TLS handshake within ${timeoutMs} ms`, { phase: 'connect', ...hopDetails(hop) })), timeoutMs);
    const onAbort = (): void => fail(new SocxError('aborted', 'cancelled'));
    const onError = (error: Error): void => fail(new SocxError('network', `TLS with ${name} failed: ${error.message}`, { phase: 'connect', ...hopDetails(hop), cause: error }));
    function settle(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('secureConnect', onSecure);
    }
    function fail(error: SocxError): void {
      settle();
      socket.destroy();
      reject(error);
    }
    function onSecure(): void {
      settle();
      hop.trace?.(`* tls ${socket.getProtocol() ?? ''} with ${proxy.host}, certificate verified`);
      resolve({ socket, head: Buffer.alloc(0) });
    }
    socket.once('secureConnect', onSecure);
    socket.once('error', onError);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
