import { createServer, type Server, type Socket } from 'node:net';

/**
 * The loopback targets that bench measures against, one listener each:
 *
 * - sink: reads a 4-byte block size (big-endian), then discards what follows and sends one byte back for each
 *   complete block, so the sender knows when the last byte has arrived, not just when it left.
 * - source: reads a block size and a block count (4 bytes each, big-endian; count 0 means "until told to
 *   stop"), then sends blocks; any byte after the request means stop. It ends its side when done.
 * - echo: sends back what it reads; ends its side once the client has ended.
 * - ping: sends back the first byte it reads and closes. It closes first so that the TIME_WAIT of each
 *   connection stays on its side (on the listening port): a connection storm would otherwise use up the
 *   ephemeral ports of the client and of the proxy (Dante binds port 0 for each upstream connection).
 *
 * The protocols need no half-close (some proxies close both ways on the first EOF) and carry no per-chunk
 * framing, so the relay in between sees a plain byte stream.
 */
export interface TargetPorts {
  readonly host: string;
  readonly sink: number;
  readonly source: number;
  readonly echo: number;
  readonly ping: number;
}

export type TargetName = 'sink' | 'source' | 'echo' | 'ping';
const TARGET_NAMES: readonly TargetName[] = ['sink', 'source', 'echo', 'ping'];

export interface Targets extends TargetPorts {
  close(): Promise<void>;
}

export const SINK_HEADER_BYTES = 4;
export const SOURCE_HEADER_BYTES = 8;
export const MAX_BLOCK_BYTES = 4 * 1024 * 1024;
const HOST = '127.0.0.1';

// One buffer serves every source connection: it is only ever read, so writing the same memory again and again
// costs no allocation and no copy on our side.
let sourceBlock: Buffer | undefined;
// Acks for up to this many blocks per read (a read is at most 64 kB, far below one block of 64 kB or more).
const ACKS = Buffer.alloc(4096, 0x06);

export async function startTargets(): Promise<Targets> {
  const sockets = new Set<Socket>();
  const track = (handler: (socket: Socket) => void) => (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A proxy may cut the connection when the client goes; nothing to report here.
    socket.on('error', () => socket.destroy());
    handler(socket);
  };
  const servers: Array<Server | undefined> = [];
  try {
    const handlers: Record<TargetName, (socket: Socket) => void> = { sink: serveSink, source: serveSource, echo: serveEcho, ping: servePing };
    const [sink = 0, source = 0, echo = 0, ping = 0] = await Promise.all(TARGET_NAMES.map(async (name, index) => {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, track(handlers[name]));
      servers[index] = server;
      return listen(server);
    }));
    return {
      host: HOST, sink, source, echo, ping,
      close: async () => {
        for (const socket of sockets) socket.destroy();
        await Promise.all(servers.map((server) => new Promise((resolve) => server ? server.close(resolve) : resolve(undefined))));
      },
    };
  } catch (error) {
    for (const server of servers) server?.close();
    throw error;
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A deep backlog: the connection-rate test opens many connections at once.
    server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

/** Collects the first `size` bytes of a connection, then hands them and the rest of that read on. */
function readHeader(socket: Socket, size: number, onHeader: (header: Buffer, rest: Buffer) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  const onEnd = (): void => void socket.destroy();
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    if (buffered.length < size) return;
    socket.off('data', onData);
    socket.off('end', onEnd);
    onHeader(buffered.subarray(0, size), buffered.subarray(size));
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
}

function serveSink(socket: Socket): void {
  readHeader(socket, SINK_HEADER_BYTES, (header, rest) => {
    const block = header.readUInt32BE(0);
    if (block === 0 || block > MAX_BLOCK_BYTES) return void socket.destroy();
    let partial = 0;
    const count = (bytes: number): void => {
      partial += bytes;
      if (partial < block) return;
      let acks = Math.floor(partial / block);
      partial -= acks * block;
      while (acks > 0) {
        const now = Math.min(acks, ACKS.length);
        socket.write(ACKS.subarray(0, now));
        acks -= now;
      }
    };
    socket.on('data', (chunk: Buffer) => count(chunk.length));
    socket.on('end', () => socket.end());
    if (rest.length > 0) count(rest.length);
  });
}

function serveSource(socket: Socket): void {
  readHeader(socket, SOURCE_HEADER_BYTES, (header, rest) => {
    const block = header.readUInt32BE(0);
    const count = header.readUInt32BE(4);
    if (block === 0 || block > MAX_BLOCK_BYTES) return void socket.destroy();
    sourceBlock ??= Buffer.alloc(MAX_BLOCK_BYTES, 0x5a);
    const chunk = sourceBlock.subarray(0, block);
    let stopped = rest.length > 0;
    let sent = 0;
    let ended = false;
    const pump = (): void => {
      while (!stopped && (count === 0 || sent < count)) {
        sent++;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      if (!ended) {
        ended = true;
        socket.end();
      }
    };
    socket.on('data', () => { stopped = true; });
    // The client ending (or going) stops us too.
    socket.on('end', () => { stopped = true; });
    socket.resume();
    pump();
  });
}

function serveEcho(socket: Socket): void {
  socket.pipe(socket);
}

function servePing(socket: Socket): void {
  socket.once('data', (chunk: Buffer) => {
    socket.end(chunk.subarray(0, 1));
    socket.resume();
  });
}

/** The ports alone, as the targets' process reports them. */
export function targetPorts(targets: TargetPorts): TargetPorts {
  const { host, sink, source, echo, ping } = targets;
  return { host, sink, source, echo, ping };
}
