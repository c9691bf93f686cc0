import { isIP, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { awaitSocket } from '../dial.ts';
import { SocxError } from '../errors.ts';
import { safeText } from '../safe-text.ts';
import { hopDetails, hopName, type Hop } from './hop.ts';
import { describeProxy } from './proxy-url.ts';

/** Certificate errors a private CA explains, as OpenSSL's verify codes name them. */
const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);

/** Node's text up to its advice for the node binary (";… try running Node.js with --use-system-ca"), and
 * how to trust a private CA from socx instead. */
function tlsErrorText(error: Error): string {
  const text = safeText(error.message.split(';')[0] ?? error.message);
  const code = 'code' in error && typeof error.code === 'string' ? error.code : '';
  return UNTRUSTED.has(code) ? `${text} (a private CA: NODE_EXTRA_CA_CERTS=its-cert.pem)` : text;
}

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
  return awaitSocket(socket, 'secureConnect', { timeoutMs, ...(signal ? { signal } : {}) }, {
    timeout: () => new SocxError('timeout', `${name} did not complete the TLS handshake within ${timeoutMs} ms`, { phase: 'connect', ...hopDetails(hop) }),
    aborted: () => new SocxError('aborted', 'cancelled'),
    failed: (error) => new SocxError('network', `TLS with ${name} failed: ${tlsErrorText(error)}`, { phase: 'connect', ...hopDetails(hop), cause: error }),
  }).then((secured) => {
    hop.trace?.(`* tls ${secured.getProtocol() ?? ''} with ${proxy.host}, certificate verified`);
    return { socket: secured, head: Buffer.alloc(0) };
  });
}
