/** UDP pieces for the UDP ASSOCIATE suites: an echo on 127.0.0.1 or ::1, a test socket whose datagrams can
 * be awaited with a limit, a raw UDP ASSOCIATE over a Collector, and a port probe. */

import dgram, { type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import path from 'node:path';
import { formatAddress, type Address } from '../../lib/codec/address.ts';
import type { ConnectionRecord } from '../../lib/server/types.ts';
import { Command } from '../../lib/codec/constants.ts';
import { decodeReply, decodeUdpDatagram, encodeRequest, encodeUdpDatagram, type Socks5Reply } from '../../lib/codec/socks5.ts';
import { Collector, hex, sleep, withTimeout, WAIT_MS } from '../helpers/net.ts';
import { authenticate, greet, type TestServer } from '../helpers/socks.ts';
import { run, startProcess, type RunResult } from '../support/process.ts';

/** The standalone executable (npm run build). */
export const SOCX = path.resolve(import.meta.dirname, '../../dist/socx');

export interface Serve {
  readonly port: number;
  /** socks5h://HOST:PORT, with IPv6 in brackets. */
  readonly url: string;
  output(): string;
  stop(): Promise<void>;
}

/** `socx serve -l HOST:0 ARGS…` until its ready line; the port is read from it. */
export async function startServe(args: string[] = [], host = '127.0.0.1'): Promise<Serve> {
  const listen = host.includes(':') ? `[${host}]:0` : `${host}:0`;
  const proc = await startProcess(SOCX, ['serve', '-l', listen, ...args], { readyPattern: /listening on \S+:\d+/, readyStream: 'stderr', timeoutMs: 15_000 });
  const port = Number(/listening on \S+:(\d+)/.exec(proc.output())?.[1]);
  const url = `socks5h://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { port, url, output: proc.output, stop: proc.stop };
}

/** Runs `socx ARGS…` to completion (stdin from `input`). */
export function socx(args: string[], input?: Buffer | string, timeoutMs = 20_000): Promise<RunResult> {
  return run(SOCX, args, { input: input === undefined ? Buffer.alloc(0) : Buffer.from(input), timeoutMs });
}

/** Waits until `text` matches the server's output (its log line is written when a connection ends). */
export async function waitForOutput(serve: Serve, pattern: RegExp, timeoutMs = 3000): Promise<RegExpExecArray> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(serve.output());
    if (match) return match;
    if (performance.now() > deadline) throw new Error(`serve output never matched ${pattern}:\n${serve.output()}`);
    await sleep(20);
  }
}

export interface Datagram { readonly msg: Buffer; readonly rinfo: RemoteInfo }

/** A bound UDP socket that queues what it receives. */
export class TestUdp {
  readonly socket: UdpSocket;
  readonly received: Datagram[] = [];
  #waiters = new Set<() => void>();

  private constructor(socket: UdpSocket) {
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      this.received.push({ msg, rinfo });
      for (const wake of [...this.#waiters]) wake();
    });
  }

  static async bind(host: string, port = 0): Promise<TestUdp> {
    const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: host.includes(':') });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => { socket.off('error', reject); resolve(); });
    });
    return new TestUdp(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: Uint8Array | readonly Uint8Array[], port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(data as Uint8Array, port, host, (error) => (error ? reject(error) : resolve())));
  }

  /** Waits for the `n`th datagram (0-based) to have arrived. */
  async nth(n: number, timeoutMs = WAIT_MS): Promise<Datagram> {
    let wake: (() => void) | undefined;
    try {
      await withTimeout(new Promise<void>((resolve) => {
        wake = (): void => { if (this.received.length > n) resolve(); };
        this.#waiters.add(wake);
        wake();
      }), timeoutMs, `datagram #${n} (have ${this.received.length})`);
    } finally {
      if (wake) this.#waiters.delete(wake);
    }
    const datagram = this.received[n];
    if (!datagram) throw new Error('unreachable');
    return datagram;
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/** A UDP echo that records the source of each datagram. */
export async function startUdpEcho(host = '127.0.0.1'): Promise<TestUdp> {
  const echo = await TestUdp.bind(host);
  echo.socket.on('message', (msg, rinfo) => echo.socket.send(msg, rinfo.port, rinfo.address));
  return echo;
}

/** RFC 1928 §7 datagram for `target`. */
export function wrap(target: Address, payload: Uint8Array | string, frag = 0): Buffer {
  return encodeUdpDatagram({ frag, address: target, payload: typeof payload === 'string' ? Buffer.from(payload) : payload });
}

export function unwrap(msg: Buffer): { address: Address; payload: Buffer; frag: number } {
  const decoded = decodeUdpDatagram(msg);
  if (!decoded.done) throw new Error(`short UDP header: ${msg.toString('hex')}`);
  return { address: decoded.value.address, frag: decoded.value.frag, payload: Buffer.from(decoded.value.payload) };
}

export const ZERO4: Address = { type: 'ipv4', host: '0.0.0.0', port: 0 };

/** A raw control connection: greeting (and RFC 1929 auth), UDP ASSOCIATE for `dst`; the reply. */
export async function associate(server: Pick<TestServer, 'client'>, dst: Address = ZERO4, auth?: { user: string; pass: string }): Promise<{ control: Collector; reply: Socks5Reply; bytes: Buffer; client: string }> {
  const control = await server.client();
  const client = formatAddress({ host: control.socket.localAddress ?? '', port: control.socket.localPort ?? 0 });
  const selected = await greet(control, [auth ? 0x02 : 0x00]);
  if (auth) {
    if (!selected.equals(hex('05 02'))) throw new Error(`method selection ${selected.toString('hex')}`);
    const status = await authenticate(control, auth.user, auth.pass);
    if (!status.equals(hex('01 00'))) throw new Error(`auth status ${status.toString('hex')}`);
  }
  control.socket.write(encodeRequest({ command: Command.UDP_ASSOCIATE, address: dst }));
  const { value, bytes } = await control.read(decodeReply);
  return { control, reply: value, bytes, client };
}

/** The record of the connection from `client` (host:port, as `associate` returns it), once written. */
export async function recordOf(server: TestServer, client: string, timeoutMs = WAIT_MS): Promise<ConnectionRecord> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const record = server.records.find((r) => r.client === client);
    if (record) return record;
    if (performance.now() > deadline) throw new Error(`no connection record for ${client} within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Whether nothing holds `port` on `host` (we can bind it ourselves). */
export async function portIsFree(host: string, port: number): Promise<boolean> {
  try {
    const probe = await TestUdp.bind(host, port);
    probe.close();
    return true;
  } catch {
    return false;
  }
}

/** Polls until `port` is free; resolves with how long that took, rejects after `limitMs`. */
export async function waitUntilFree(host: string, port: number, limitMs: number): Promise<number> {
  const started = performance.now();
  while (!(await portIsFree(host, port))) {
    if (performance.now() - started > limitMs) throw new Error(`UDP port ${port} on ${host} still bound after ${limitMs} ms`);
    await sleep(10);
  }
  return performance.now() - started;
}
