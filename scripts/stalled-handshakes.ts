// What thousands of stalled handshakes cost socx serve, and what a fresh client sees meanwhile: starts
// dist/socx serve on a free loopback port with its defaults, holds N connections that sent one byte and
// stopped, and prints the server's descriptors and RSS and the latency of a fresh CONNECT + echo.
//   node scripts/stalled-handshakes.ts [N=10000]
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import path from 'node:path';

const count = Number(process.argv[2] ?? 10_000);
const socx = path.resolve(import.meta.dirname, '../dist/socx');

const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const open = (port: number): Promise<Socket> => new Promise((resolve, reject) => {
  const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
  socket.once('error', reject);
});

const echo = createServer((socket) => socket.pipe(socket));
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
const echoPort = (echo.address() as { port: number }).port;
const child = spawn(socx, ['serve', '-l', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
const port = await new Promise<number>((resolve) => {
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    const match = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
    if (match) resolve(Number(match[1]));
  });
});
const pid = child.pid ?? 0;

async function freshClient(): Promise<number> {
  const started = performance.now();
  const socket = await open(port);
  const request = Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff, 0x2a]);
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    socket.on('data', (chunk: Buffer) => { got += chunk.length; if (got >= 13) resolve(); });
    socket.once('error', reject);
    socket.write(request);
  });
  socket.destroy();
  return performance.now() - started;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const baseline: number[] = [];
for (let i = 0; i < 20; i++) baseline.push(await freshClient());
const before = { fds: fds(pid), rss: rssKb(pid) };

const stalled: Socket[] = [];
let refused = 0;
for (let i = 0; i < count; i++) {
  try {
    const socket = await open(port);
    socket.on('error', () => {});
    socket.write(Buffer.from([5]));
    stalled.push(socket);
  } catch {
    refused++;
  }
}
await new Promise((resolve) => setTimeout(resolve, 1000));
const alive = stalled.filter((socket) => !socket.destroyed).length;
const during = { fds: fds(pid), rss: rssKb(pid) };
const latencies: number[] = [];
for (let i = 0; i < 20; i++) latencies.push(await freshClient());
console.log(`stalled handshakes opened: ${count} (${refused} refused at connect), still open after 1 s: ${alive}`);
console.log(`server fds: ${before.fds} before, ${during.fds} during; RSS: ${before.rss} kB before, ${during.rss} kB during`);
console.log(`fresh client CONNECT + echo, median of 20: ${median(baseline).toFixed(2)} ms before, ${median(latencies).toFixed(2)} ms during (max ${Math.max(...latencies).toFixed(2)} ms)`);
for (const socket of stalled) socket.destroy();
child.kill('SIGKILL');
echo.close();
