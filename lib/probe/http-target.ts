import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { listen } from './targets.ts';

/** A web page of the probe's own on the local address facing the proxy: an HTTP proxy that forwards a plain
 * `GET http://…/` brings back its token, which no other page holds. */
export interface PageTarget {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

export async function startPageTarget(host: string): Promise<PageTarget> {
  const token = `socx-probe page ${randomBytes(8).toString('hex')}`;
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(token) });
    response.end(token);
  });
  const port = await listen(server, host, 0);
  return {
    host, port, token,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
