// UDP relay benchmark (a script, not a test): datagrams per second echoed through `socx serve`'s UDP ASSOCIATE
// relay, against the same UDP echo reached directly.
//
//   node scripts/udp-bench.ts [--size 64] [--window 32] [--seconds 2] [--runs 5] [--socx dist/socx] [--json]
//
// The echo and the server each run in their own process; this process is the client. It keeps `window`
// datagrams in flight and sends one more for each reply (a lost datagram is replaced when no reply has come
// for 50 ms), so it measures what the relay sustains without overrunning socket buffers. One echoed datagram
// is two relayed ones (there and back). Each mode runs `runs` times, alternating; the median is reported.

import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseProxyUrl } from '../lib/client/proxy-url.ts';
import { openUdpSession } from '../lib/client/udp.ts';
import type { Address } from '../lib/codec/address.ts';

const root = path.resolve(import.meta.dirname, '..');

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    window: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '2' },
    runs: { type: 'string', default: '5' },
    socx: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const size = Number(values.size);
const window = Number(values.window);
const seconds = Number(values.seconds);
const runs = Number(values.runs);

const ECHO = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(0, '127.0.0.1', () => console.log('port ' + s.address().port));
`;

/** Starts a child and resolves with the first match of `pattern` in its output. */
function start(command: string, args: string[], pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) resolve({ child, match });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}): ${output}`)));
    setTimeout(() => reject(new Error(`${command} did not start: ${output}`)), 10_000).unref();
  });
}

/** Sends through `send`, counts what `onReply` is told, for `seconds`; returns replies per second. */
function measure(send: () => void, onReply: (listener: () => void) => void): Promise<number> {
  return new Promise((resolve) => {
    let replies = 0;
    let progress = 0;
    let running = true;
    onReply(() => {
      replies++;
      if (running) send();
    });
    for (let i = 0; i < window; i++) send();
    const refill = setInterval(() => {
      if (replies === progress) for (let i = 0; i < window; i++) send();
      progress = replies;
    }, 50);
    const started = performance.now();
    setTimeout(() => {
      running = false;
      clearInterval(refill);
      const elapsed = (performance.now() - started) / 1000;
      // Let in-flight replies land so they do not count towards the next run.
      setTimeout(() => resolve(replies / elapsed), 100);
    }, seconds * 1000);
  });
}

async function direct(port: number, payload: Buffer): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
  let listener = (): void => {};
  socket.on('message', () => listener());
  const rate = await measure(() => socket.send(payload), (l) => { listener = l; });
  socket.close();
  return rate;
}

async function proxied(proxyPort: number, target: Address, payload: Buffer): Promise<number> {
  const session = await openUdpSession({ proxy: parseProxyUrl(`socks5h://127.0.0.1:${proxyPort}`), timeoutMs: 5000 });
  let listener = (): void => {};
  session.onDatagram(() => listener());
  const rate = await measure(() => session.send(target, payload), (l) => { listener = l; });
  session.close();
  return rate;
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

const echo = await start(process.execPath, ['-e', ECHO], /port (\d+)/);
const serveCommand = values.socx ? [path.resolve(values.socx)] : [process.execPath, path.join(root, 'cmd/main.ts')];
const [serveBin = '', ...serveArgs] = serveCommand;
const server = await start(serveBin, [...serveArgs, 'serve', '-l', '127.0.0.1:0', '-q'], /listening on 127\.0\.0\.1:(\d+)/);
try {
  const echoPort = Number(echo.match[1]);
  const proxyPort = Number(server.match[1]);
  const payload = Buffer.alloc(size, 0x61);
  const target: Address = { type: 'ipv4', host: '127.0.0.1', port: echoPort };
  const directRates: number[] = [];
  const proxyRates: number[] = [];
  // One unmeasured round each to warm up the JIT on both sides.
  await direct(echoPort, payload);
  await proxied(proxyPort, target, payload);
  for (let i = 0; i < runs; i++) {
    directRates.push(await direct(echoPort, payload));
    proxyRates.push(await proxied(proxyPort, target, payload));
  }
  const result = {
    payloadBytes: size,
    window,
    seconds,
    runs,
    direct: { echoedPerSec: Math.round(median(directRates)), runs: directRates.map(Math.round) },
    proxy: { echoedPerSec: Math.round(median(proxyRates)), relayedPerSec: Math.round(2 * median(proxyRates)), runs: proxyRates.map(Math.round) },
    ratioToDirect: Number((median(proxyRates) / median(directRates)).toFixed(3)),
  };
  if (values.json) console.log(JSON.stringify(result));
  else {
    console.log(`UDP echo, ${size}-byte payloads, ${window} in flight, median of ${runs} x ${seconds} s`);
    console.log(`  direct:          ${result.direct.echoedPerSec.toLocaleString('en')} datagrams/s echoed   (runs: ${result.direct.runs.join(', ')})`);
    console.log(`  via socx serve:  ${result.proxy.echoedPerSec.toLocaleString('en')} datagrams/s echoed = ${result.proxy.relayedPerSec.toLocaleString('en')} relayed/s   (runs: ${result.proxy.runs.join(', ')})`);
    console.log(`  ratio to direct: ${result.ratioToDirect}`);
  }
} finally {
  echo.child.kill();
  server.child.kill();
}
