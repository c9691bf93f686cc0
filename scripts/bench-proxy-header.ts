// The handshake cost of a PROXY protocol header (a script, not a test): the built socx serve twice, one
// plain and one with --proxy-protocol, and the same client (lib/client's handshake) against each, writing a
// PROXY v1 or v2 header first where one is expected. One handshake = connect, [header], greeting, CONNECT
// to a loopback echo, reply, a 32-byte echo, close, one at a time. Rounds alternate between the servers;
// the figure is the median over rounds of each round's median; then the decoder alone, in ns. Run it pinned to one CPU, as socksload's
// cr1pin does, so that waking an idle CPU does not dominate:
//
//   taskset -c 1 node scripts/bench-proxy-header.ts [--rounds 7] [--handshakes 1000]

import net from 'node:net';
import { parseArgs } from 'node:util';
import { openSession } from '../lib/client/client.ts';
import { parseProxyUrl } from '../lib/client/proxy-url.ts';
import { decodeProxyHeader, encodeProxyHeader } from '../lib/codec/proxy-protocol.ts';
import { dialTcp, type Dial } from '../lib/dial.ts';
import { startProcess } from '../test/support/process.ts';
import { root } from './bench-support.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, handshakes: { type: 'string', default: '1000' } } });
const rounds = Number(values.rounds);
const handshakes = Number(values.handshakes);

async function serve(extra: string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const proc = await startProcess(`${root}/dist/socx`, ['serve', '-q', '-l', '127.0.0.1:0', '--allow-open-proxy', '--allow', 'to=loopback', ...extra], {
    readyPattern: /listening on 127\.0\.0\.1:\d+/, readyStream: 'stderr', timeoutMs: 15_000,
  });
  return { port: Number(/listening on 127\.0\.0\.1:(\d+)/.exec(proc.output())?.[1]), stop: proc.stop };
}

const echo = net.createServer((socket) => socket.pipe(socket));
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
const target = { type: 'ipv4', host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port } as const;
const plain = await serve([]);
const proxied = await serve(['--proxy-protocol', '--proxy-protocol-from', '127.0.0.1']);
const payload = Buffer.alloc(32, 0x61);

/** What a balancer sends: the client's and our addresses (what HAProxy's send-proxy writes). */
function header(version: 1 | 2): Buffer {
  return encodeProxyHeader({ version, command: 'proxy', addresses: { transport: 'tcp', source: { host: '198.51.100.7', port: 40000 }, destination: { host: '127.0.0.1', port: proxied.port } } });
}
const withHeader = (bytes: Buffer): Dial => async (host, port, options) => {
  const socket = await dialTcp(host, port, options);
  socket.write(bytes);
  return socket;
};

async function oneHandshake(port: number, dial: Dial | undefined): Promise<number> {
  const started = performance.now();
  const session = await openSession('connect', target, { proxy: parseProxyUrl(`socks5://127.0.0.1:${port}`), timeoutMs: 5000, ...(dial ? { dial } : {}) });
  const { socket } = session;
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    socket.on('data', (chunk: Buffer) => { got += chunk.length; if (got >= payload.length) resolve(); });
    socket.once('error', reject);
    // The client's reader leaves the socket paused.
    socket.resume();
    socket.write(payload);
  });
  const us = (performance.now() - started) * 1000;
  socket.destroy();
  return us;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const cases: ReadonlyArray<readonly [string, number, Dial | undefined]> = [
  ['no header (plain listener)', plain.port, undefined],
  ['PROXY v1 header', proxied.port, withHeader(header(1))],
  ['PROXY v2 header', proxied.port, withHeader(header(2))],
];
const perRound = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (const [, port, dial] of cases) for (let i = 0; i < 200; i++) await oneHandshake(port, dial);
for (let round = 0; round < rounds; round++) {
  for (const [name, port, dial] of cases) {
    const times: number[] = [];
    for (let i = 0; i < handshakes; i++) times.push(await oneHandshake(port, dial));
    perRound.get(name)?.push(median(times));
  }
}
const base = median(perRound.get(cases[0]![0]) ?? []);
for (const [name, medians] of perRound) {
  const us = median(medians);
  console.log(`${name.padEnd(28)} ${us.toFixed(1).padStart(7)} µs per handshake (rounds ${medians.map((m) => m.toFixed(0)).join(' ')})${name === cases[0]![0] ? '' : `, ${us >= base ? '+' : ''}${(us - base).toFixed(1)} µs against no header`}`);
}
// The decoder alone, what the server adds to a handshake's CPU besides reading the bytes.
for (const version of [1, 2] as const) {
  const bytes = header(version);
  const count = 1_000_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) if (!decodeProxyHeader(bytes).done) throw new Error('no header');
  console.log(`decodeProxyHeader v${version}          ${(Number(process.hrtime.bigint() - start) / count).toFixed(0).padStart(7)} ns`);
}
await Promise.all([plain.stop(), proxied.stop()]);
echo.close();
