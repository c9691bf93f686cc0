/** Endpoints that are not (good) SOCKS proxies, for `socx probe` to tell apart: one that never answers, one that
 * closes at once, one that says yes to everything without connecting anywhere, and one that cuts its error
 * replies short. Each tracks its sockets and closes them on stop. */

import { createServer, type Server, type Socket } from 'node:net';
import { closeServer, listen } from '../helpers/net.ts';

export interface Fake {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

async function startFake(onConnection: (socket: Socket) => void, host = '127.0.0.1'): Promise<Fake> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    onConnection(socket);
  });
  const port = await listen(server, host);
  return { host, port, connections: () => accepted, stop: () => closeServer(server, sockets) };
}

/** Accepts and never sends a byte. */
export function startSilent(): Promise<Fake> {
  return startFake((socket) => socket.resume());
}

/** Accepts and closes at once. */
export function startClosingAtOnce(): Promise<Fake> {
  return startFake((socket) => socket.destroy());
}

/** `05 00` to the first chunk of every connection, then a success reply (BND 0.0.0.0:0) to the next, and then
 * swallows whatever comes: it connects nowhere. */
export function startYesMan(): Promise<Fake> {
  return startFake((socket) => {
    let chunks = 0;
    socket.on('data', () => {
      chunks++;
      if (chunks === 1) socket.write(Buffer.from([0x05, 0x00]));
      else if (chunks === 2) socket.write(Buffer.from([0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
    });
  });
}

/** A SOCKS5 server with no auth whose error reply to every request is `05 07` and a close: 2 bytes of the 10.
 * SOCKS4 requests get the same (as from a SOCKS5-only parser). */
export function startShortReplier(): Promise<Fake> {
  return startFake((socket) => {
    let chunks = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks++;
      if (chunks === 1 && chunk[0] === 0x05) socket.write(Buffer.from([0x05, 0x00]));
      else socket.end(Buffer.from([0x05, 0x07]));
    });
  });
}

/** An HTTP server that answers only once a request's head is complete, so it is silent to a SOCKS greeting
 * (as Python's http.server is). */
export function startPatientHttp(): Promise<Fake> {
  return startFake((socket) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\r\n\r\n')) socket.end('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
  });
}
