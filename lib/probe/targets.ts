import dgram, { type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';

/**
 * The probe's own targets: a TCP echo and a UDP echo on the local address that faces the proxy (the proxy must
 * reach them, so they listen where the proxy sees us), and a port known to be closed. The TCP echo counts the
 * connections it accepts: a CONNECT whose data does not come back is told apart from one that never reached it.
 */
export interface ProbeTargets {
  /** The local address facing the proxy. */
  readonly host: string;
  readonly tcpPort: number;
  readonly udpPort: number;
  /** Set for a loopback proxy: the same echo on the other loopback family (127.0.0.1 / ::1), same port when free. */
  readonly otherLoopback: { readonly host: string; readonly port: number } | undefined;
  /** A port on `host` with nothing listening. */
  readonly closedPort: number;
  /** TCP connections accepted so far. */
  connections(): number;
  /** Whether the UDP echo has received this payload (it remembers the last 256). */
  udpSaw(payload: Uint8Array): boolean;
  close(): Promise<void>;
}

export async function startTargets(host: string): Promise<ProbeTargets> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const onConnection = (socket: Socket): void => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
  };
  const servers: Server[] = [];
  const newServer = (): Server => {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
    servers.push(server);
    return server;
  };
  let udp: UdpSocket | undefined;
  try {
    const tcpPort = await listen(newServer(), host, 0);
    const otherHost = loopbackPartner(host);
    let otherLoopback: { host: string; port: number } | undefined;
    if (otherHost !== undefined) {
      const port = await listen(newServer(), otherHost, tcpPort).catch(() => listen(newServer(), otherHost, 0)).catch(() => undefined);
      otherLoopback = port === undefined ? undefined : { host: otherHost, port };
    }
    const seen: string[] = [];
    udp = await udpEcho(host, (message) => {
      seen.push(message.toString('hex'));
      if (seen.length > 256) seen.shift();
    });
    const udpPort = udp.address().port;
    const closedPort = await findClosedPort(host);
    const udpSocket = udp;
    return {
      host, tcpPort, udpPort, otherLoopback, closedPort,
      connections: () => accepted,
      udpSaw: (payload) => seen.includes(Buffer.from(payload).toString('hex')),
      close: async () => {
        for (const socket of sockets) socket.destroy();
        udpSocket.close();
        await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      },
    };
  } catch (error) {
    for (const server of servers) server.close();
    udp?.close();
    throw error;
  }
}

export function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.') || host === 'localhost';
}

function loopbackPartner(host: string): string | undefined {
  if (host === '::1') return '127.0.0.1';
  if (host.startsWith('127.')) return '::1';
  return undefined;
}

/** Listens on host:port (0: any free port), IPv6 only for an IPv6 host; resolves with the port. */
export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: isIPv6(host) }, () => {
      server.off('error', reject);
      const address = server.address();
      if (address && typeof address === 'object') resolve(address.port);
      else reject(new Error('the target has no port'));
    });
  });
}

function udpEcho(host: string, onMessage: (message: Buffer) => void): Promise<UdpSocket> {
  const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  socket.on('message', (message, from) => {
    onMessage(message);
    socket.send(message, from.port, from.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port: 0 }, () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

/** Bound, then released: nothing listens there for the moment the probe needs it. */
async function findClosedPort(host: string): Promise<number> {
  const server = createServer();
  const port = await listen(server, host, 0);
  await new Promise((resolve) => server.close(resolve));
  return port;
}
