import dgram, { type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { rawListen, sharedReadBuffer, type RawConnection, type RawOwner, type RawServer } from './raw-tcp.ts';

/**
 * The loopback targets that bench measures against, one listener each:
 *
 * - sink: reads a 4-byte block size (big-endian), then discards what follows and sends one byte back for each
 *   complete block, so the sender knows when the last byte has arrived, not just when it left.
 * - source: reads a block size and a block count (4 bytes each, big-endian; count 0 means "until told to
 *   stop"), then sends blocks; any byte after the request means stop. It ends its side when done.
 * - echo: sends back what it reads; ends its side once the client has ended.
 * - udpEcho (UDP): sends every datagram back to where it came from.
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
  readonly udpEcho: number;
}

export type TargetName = 'sink' | 'source' | 'echo' | 'ping';

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
// Acks for up to this many blocks at once; a read that completes more blocks (small ones) writes several.
const ACKS = Buffer.alloc(4096, 0x06);
// What every sink connection reads into, and throws away. Up to 1 MiB per read, as socksload's sink takes
// (recv of 1 MiB): with the 64 kB of the other targets, a relay that writes in small pieces (microsocks)
// measured ~15 % slower here than under socksload on the same run, and the ratios between proxies moved.
const SINK_READ_BUFFER = Buffer.allocUnsafe(1024 * 1024);

export async function startTargets(): Promise<Targets> {
  const sockets = new Set<Socket>();
  const track = (handler: (socket: Socket) => void) => (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A proxy may cut the connection when the client goes; nothing to report here.
    socket.on('error', () => socket.destroy());
    handler(socket);
  };
  const connections = new Set<RawConnection>();
  const raw: RawServer[] = [];
  let source: Server | undefined;
  let udp: UdpSocket | undefined;
  try {
    // The sink, the echo and the ping on libuv's handles (raw-tcp.ts): their cost per read and per connection
    // lands on the same two cores as the proxy's, and net.Socket's would be the larger share.
    for (const serve of [serveSink, serveEcho, servePing]) raw.push(rawListen(HOST, BACKLOG, (accept) => serve(accept, connections)));
    source = createServer({ allowHalfOpen: true, noDelay: true }, track(serveSource));
    const sourcePort = await listen(source);
    const [sink, echo, ping] = raw.map((server) => server.port) as [number, number, number];
    udp = await udpEcho();
    const udpSocket = udp;
    return {
      host: HOST, sink, source: sourcePort, echo, ping, udpEcho: udp.address().port,
      close: async () => {
        udpSocket.close();
        for (const socket of sockets) socket.destroy();
        for (const connection of connections) connection.close();
        for (const server of raw) server.close();
        await new Promise((resolve) => source!.close(resolve));
      },
    };
  } catch (error) {
    for (const server of raw) server.close();
    source?.close();
    udp?.close();
    throw error;
  }
}

/** Large socket buffers: a burst of datagrams that overflows one is loss the relay did not cause. */
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

async function udpEcho(): Promise<UdpSocket> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: UDP_BUFFER_BYTES, sendBufferSize: UDP_BUFFER_BYTES });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // An echo to a client that has gone (ICMP unreachable) is no one's concern.
  socket.on('error', () => {});
  socket.on('message', (message, from) => socket.send(message, from.port, from.address));
  return socket;
}

// A deep backlog: the connection-rate test opens many connections at once.
const BACKLOG = 4096;

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: HOST, port: 0, backlog: BACKLOG }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

type Accept = (owner: RawOwner, buffer?: Uint8Array) => RawConnection;

/** A raw connection's owner that forgets it once it ends, so that close() can reach whatever is open. */
abstract class Tracked implements RawOwner {
  readonly connection: RawConnection;
  readonly #all: Set<RawConnection>;

  constructor(accept: Accept, all: Set<RawConnection>, buffer?: Uint8Array) {
    this.connection = accept(this, buffer);
    this.#all = all;
    all.add(this.connection);
  }

  connected(): void {}
  abstract received(bytes: number): void;

  ended(): void {
    this.#all.delete(this.connection);
  }

  failed(): void {
    this.#all.delete(this.connection);
  }

  close(): void {
    this.connection.close();
    this.#all.delete(this.connection);
  }
}

class Sink extends Tracked {
  constructor(accept: Accept, all: Set<RawConnection>) {
    super(accept, all, SINK_READ_BUFFER);
  }

  /** The block size, once its 4 bytes are in; until then, those that arrived. */
  #block = 0;
  #header: number[] = [];
  #partial = 0;

  received(bytes: number): void {
    let offset = 0;
    while (this.#block === 0 && offset < bytes) {
      this.#header.push(SINK_READ_BUFFER[offset++]!);
      if (this.#header.length < SINK_HEADER_BYTES) continue;
      this.#block = Buffer.from(this.#header).readUInt32BE(0);
      if (this.#block === 0 || this.#block > MAX_BLOCK_BYTES) return this.close();
    }
    this.#partial += bytes - offset;
    if (this.#block === 0 || this.#partial < this.#block) return;
    let acks = Math.floor(this.#partial / this.#block);
    this.#partial -= acks * this.#block;
    // ACKS is never written to: a write that does not complete at once may go on pointing into it.
    while (acks > 0) {
      const now = Math.min(acks, ACKS.length);
      this.connection.write(ACKS.subarray(0, now));
      acks -= now;
    }
  }
}

const serveSink = (accept: Accept, all: Set<RawConnection>): void => void new Sink(accept, all);

/** Echoes each read; its own buffer, since a write that does not complete at once goes on pointing into it:
 * reading stops until it has. */
class Echo extends Tracked {
  readonly #buffer: Buffer;

  constructor(accept: Accept, all: Set<RawConnection>) {
    const buffer = Buffer.allocUnsafe(64 * 1024);
    super(accept, all, buffer);
    this.#buffer = buffer;
  }

  received(bytes: number): void {
    if (!this.connection.write(this.#buffer.subarray(0, bytes))) this.connection.pause();
  }

  written(): void {
    this.connection.resume();
  }
}

const serveEcho = (accept: Accept, all: Set<RawConnection>): void => void new Echo(accept, all);

/** Each possible first byte as a buffer of its own, so the ping's answer never points into the read buffer. */
const SINGLE_BYTES = Array.from({ length: 256 }, (_, byte) => Buffer.from([byte]));

class Ping extends Tracked {
  received(): void {
    // The close follows the byte out (FIN after data); a write that has not gone yet is awaited first.
    if (this.connection.write(SINGLE_BYTES[sharedReadBuffer[0]!]!)) this.close();
  }

  written(): void {
    this.close();
  }
}

const servePing = (accept: Accept, all: Set<RawConnection>): void => void new Ping(accept, all);

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

/** The ports alone, as the targets' process reports them. */
export function targetPorts(targets: TargetPorts): TargetPorts {
  const { host, sink, source, echo, ping, udpEcho } = targets;
  return { host, sink, source, echo, ping, udpEcho };
}
