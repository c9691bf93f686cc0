// shadowsocks-libev (Debian's shadowsocks-libev): ss-local is a SOCKS5 server with a UDP relay (-u) that
// forwards through ss-server. Both run here on loopback: a UDP-capable SOCKS5 server nobody here wrote.
import { freePort, requireBinary, startProcess, type Started } from '../support/process.ts';

export interface Shadowsocks {
  /** ss-local's SOCKS5 port. */
  readonly port: number;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const CIPHER = ['-k', 'bench-only', '-m', 'chacha20-ietf-poly1305'];

export async function startShadowsocks(): Promise<Shadowsocks> {
  const server = requireBinary('ss-server', 'shadowsocks-libev');
  const local = requireBinary('ss-local', 'shadowsocks-libev');
  const started: Started[] = [];
  const stop = async (): Promise<void> => { await Promise.allSettled(started.map((process) => process.stop())); };
  try {
    const serverPort = await freePort(HOST);
    started.push(await startProcess(server, ['-s', HOST, '-p', String(serverPort), ...CIPHER, '-u'], { readyPort: serverPort, timeoutMs: 15_000 }));
    const port = await freePort(HOST);
    started.push(await startProcess(local, ['-s', HOST, '-p', String(serverPort), '-b', HOST, '-l', String(port), ...CIPHER, '-u'], { readyPort: port, timeoutMs: 15_000 }));
    return { port, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
