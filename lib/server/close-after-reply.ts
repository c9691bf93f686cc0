import type { Socket } from 'node:net';

/** How long a refused client gets to read our last reply before the socket is destroyed. */
const LINGER_MS = 1000;

/** Sends the last bytes, then reads and discards until the client closes (or the linger ends), so the
 * reply is not lost to a reset caused by unread input. */
export function closeAfterReply(socket: Socket, reply: Buffer | undefined): void {
  socket.setTimeout(0);
  socket.on('error', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(timer));
  if (reply) socket.end(reply);
  else socket.end();
  socket.resume();
}
