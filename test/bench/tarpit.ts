// A SOCKS5 proxy that grants every CONNECT and then swallows whatever comes, never answering and never closing:
// what bench must survive with a deadline (issue 11). It reads everything so that no sender blocks on it.
import { createServer, type Socket } from 'node:net';
import { closeServer, listen } from '../helpers/net.ts';

export interface Tarpit {
  readonly port: number;
  /** Connections that got as far as the grant. */
  granted: number;
  close(): Promise<void>;
}

const METHOD_NO_AUTH = Buffer.from([0x05, 0x00]);
const GRANTED = Buffer.from([0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x04, 0x38]);
// A greeting offering one method, then a CONNECT to an IPv4 address: what bench's generators send.
const GREETING_BYTES = 3;
const REQUEST_BYTES = 10;

export async function startTarpit(): Promise<Tarpit> {
  const sockets = new Set<Socket>();
  const tarpit = { port: 0, granted: 0, close: () => closeServer(server, sockets) };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let seen = 0;
    socket.on('data', (chunk: Buffer) => {
      const before = seen;
      seen += chunk.length;
      if (before < GREETING_BYTES && seen >= GREETING_BYTES) socket.write(METHOD_NO_AUTH);
      if (before < GREETING_BYTES + REQUEST_BYTES && seen >= GREETING_BYTES + REQUEST_BYTES) {
        socket.write(GRANTED);
        tarpit.granted++;
      }
    });
  });
  tarpit.port = await listen(server, '127.0.0.1');
  return tarpit;
}
