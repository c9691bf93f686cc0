// A TLS terminator in front of a loopback TCP service (stunnel's job): https:// proxy tests put it in front
// of tinyproxy. Its certificate is self-signed for 127.0.0.1 and localhost, made with the openssl CLI in a
// temp dir; `certPath` is what NODE_EXTRA_CA_CERTS needs to trust it.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { requireBinary, run } from './process.ts';

export interface TlsTerminator {
  readonly port: number;
  readonly certPath: string;
  /** Bytes decrypted and passed to the backend so far. */
  plaintextBytes(): number;
  close(): Promise<void>;
}

export async function startTlsTerminator(backendPort: number): Promise<TlsTerminator> {
  const openssl = requireBinary('openssl');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'socx-tls-'));
  try {
    const keyPath = path.join(dir, 'key.pem');
    const certPath = path.join(dir, 'cert.pem');
    const made = await run(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyPath, '-out', certPath], { timeoutMs: 15_000 });
    if (made.code !== 0) throw new Error(`openssl req failed (${made.code}): ${made.stderr}`);
    let plaintext = 0;
    const sockets = new Set<net.Socket>();
    const server = tls.createServer({ key: await readFile(keyPath), cert: await readFile(certPath), allowHalfOpen: true }, (client) => {
      const backend = net.connect({ host: '127.0.0.1', port: backendPort, allowHalfOpen: true });
      for (const s of [client, backend]) {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
        s.on('error', () => { client.destroy(); backend.destroy(); });
      }
      client.on('data', (chunk: Buffer) => { plaintext += chunk.length; });
      client.pipe(backend);
      backend.pipe(client);
    });
    server.on('tlsClientError', () => {});
    // Raw connections too: one whose handshake failed never reaches the handler, and half-open it would hold
    // close() forever.
    server.on('connection', (raw: net.Socket) => {
      sockets.add(raw);
      raw.once('close', () => sockets.delete(raw));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    return {
      port,
      certPath,
      plaintextBytes: () => plaintext,
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
