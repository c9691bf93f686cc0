// `socx bench` as users run it (the built dist/socx): tiny sizes, checking that it works and what it prints,
// never how fast anything is.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { generatorCount } from '../../lib/bench/connection-load.ts';
import type { BenchJson } from '../../lib/bench/summary.ts';
import { SocksServer } from '../../lib/server/server.ts';
import { childrenOf, freePort, isAlive, run, type RunResult } from '../support/process.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';
import { startTarpit } from './tarpit.ts';

const EXE = path.resolve(import.meta.dirname, '..', '..', 'dist', 'socx');
const SMALL = ['--bytes', '64k', '--duration', '150ms', '--messages', '10', '--concurrency', '2'];
const TINY = [...SMALL, '--streams', '2'];
const T = { timeout: 90_000 };

let server: SocksServer;
let port: number;

before(async () => {
  accessSync(EXE, constants.X_OK);
  server = new SocksServer({ authenticate: usersAuthenticator(new Map([['alice', 's3cr:et']])) });
  const [bound] = await server.listen([{ host: '127.0.0.1', port: 0 }]);
  port = bound!.port;
});

after(() => server.close(0));

function bench(args: string[]): Promise<RunResult> {
  return run(EXE, ['bench', ...args], { timeoutMs: 80_000, env: { NO_COLOR: '1' } });
}

function parse(result: RunResult): BenchJson {
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.toString('utf8')) as BenchJson;
}

const positive = (value: unknown, what: string): void => {
  assert.ok(typeof value === 'number' && Number.isFinite(value) && value > 0, `${what} = ${String(value)}`);
};

/** The contract's fields, finite and positive, and each ratio consistent with the two throughputs. */
function checkJson(json: BenchJson, proxies: number): void {
  positive(json.direct.throughputMBps, 'direct.throughputMBps');
  assert.equal(json.results.length, proxies);
  for (const result of json.results) {
    assert.equal(typeof result.proxy, 'string');
    positive(result.throughputMBps, 'throughputMBps');
    positive(result.ratioToDirect, 'ratioToDirect');
    const expected = result.throughputMBps / json.direct.throughputMBps;
    assert.ok(Math.abs(result.ratioToDirect - expected) <= 0.002 + expected * 0.01, `ratio ${result.ratioToDirect} vs ${expected}`);
    positive(result.connectionsPerSec, 'connectionsPerSec');
    positive(result.handshakeMs.p50, 'handshakeMs.p50');
    positive(result.handshakeMs.p99, 'handshakeMs.p99');
    assert.ok(result.handshakeMs.p99 >= result.handshakeMs.p50 && result.handshakeMs.max >= result.handshakeMs.p99);
    positive(result.roundTripMs.p50, 'roundTripMs.p50');
    for (const kind of ['upload', 'download', 'uploadStreams', 'downloadStreams'] as const) {
      const entry = result.throughput[kind];
      assert.ok(entry, kind);
      positive(entry.MBps, `${kind}.MBps`);
      assert.ok(entry.min <= entry.MBps && entry.MBps <= entry.max, `${kind}: ${entry.min} <= ${entry.MBps} <= ${entry.max}`);
    }
  }
}

function refused(host: string, portNumber: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: portNumber });
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(true));
  });
}

test('with no -x, bench measures its own socx serve, then stops it', T, async () => {
  const result = await bench(['--json', ...TINY]);
  const json = parse(result);
  checkJson(json, 1);
  const [own] = json.results;
  assert.equal(own!.label, 'socx serve');
  const match = /^socks5h:\/\/127\.0\.0\.1:(\d+)$/.exec(own!.proxy);
  assert.ok(match, own!.proxy);
  assert.equal(json.config.bytes, 65536);
  assert.ok(await refused('127.0.0.1', Number(match[1])), 'socx serve still listening after bench exited');
  assert.doesNotMatch(result.stderr, /\x1b\[/);
});

test('several -x with credentials, labels and --repeat', T, async () => {
  const result = await bench([
    '--json', ...TINY, '--repeat', '2',
    '-x', `socks5h://alice:s3cr%3Aet@127.0.0.1:${port}`, '--label', 'in the URL',
    '-x', `socks5://127.0.0.1:${port}`, '--label', 'with -U',
    '-U', 'alice:s3cr:et',
  ]);
  const json = parse(result);
  checkJson(json, 2);
  assert.equal(json.config.repeat, 2);
  assert.deepEqual(json.results.map((entry) => entry.label), ['in the URL', 'with -U']);
  assert.deepEqual(json.results.map((entry) => entry.proxy), [`socks5h://alice@127.0.0.1:${port}`, `socks5://alice@127.0.0.1:${port}`]);
  assert.doesNotMatch(result.stdout.toString(), /s3cr/);
});

test('the table goes to stdout, with no colour; progress goes to stderr as plain lines', T, async () => {
  const result = await bench([...SMALL, '--streams', '1']);
  assert.equal(result.code, 0, result.stderr);
  const out = result.stdout.toString('utf8');
  assert.match(out, /direct/);
  assert.match(out, /socx serve/);
  assert.match(out, /download, 1 stream \(MB\/s\)/);
  assert.match(out, /connect \+ handshake p99/);
  assert.doesNotMatch(out, /2 streams/);
  assert.doesNotMatch(out + result.stderr, /\x1b\[/);
  // upload, download, round trips, connection rate on two paths.
  const steps = [...result.stderr.matchAll(/^socx: \[(\d+)\/8\] ([^:\n]+): (direct|socx serve) — ~\d+ s left$/gm)];
  assert.deepEqual(steps.map((match) => Number(match[1])), [1, 2, 3, 4, 5, 6, 7, 8], result.stderr);
  assert.equal(steps[2]![2], 'download, 1 stream');
  // 64 kB moves in well under 200 ms on loopback: flagged, never shown as a figure.
  assert.match(out, /upload, 1 stream \(MB\/s\) +│ +too short +│ +too short/);
  assert.match(out, /"too short": a run under 200 ms/);
});

test('runs too short to measure are flagged in the JSON', T, async () => {
  const json = parse(await bench(['--json', ...SMALL, '--streams', '1']));
  assert.equal(json.direct.throughput.upload?.tooShort, true);
  assert.equal(json.results[0]!.throughput.download?.tooShort, true);
  assert.equal(json.direct.roundTripTooShort, true);
  // Wide margins over MIN_RUN_MS and MIN_SAMPLES (too-short.test.ts pins the thresholds): the throughput runs
  // last the duration whatever the machine, and 100 connections in 1 s with 8 in flight leaves 80 ms for
  // each even on a machine loaded many times over.
  const long = parse(await bench(['--json', '--streams', '1', '--duration', '1s', '--messages', '150', '--concurrency', '8']));
  for (const path of [long.direct, ...long.results]) {
    assert.equal(path.throughput.upload?.tooShort, undefined);
    assert.equal(path.roundTripTooShort, undefined);
    assert.equal(path.connections.tooShort, undefined);
    // Every process on every row: the proxy (not on the direct path), the generator, the targets.
    for (const cpu of [path.throughput.upload!.cpu, path.throughput.download!.cpu, path.connections.cpu]) {
      assert.equal(typeof cpu.generator, 'number');
      assert.equal(typeof cpu.targets, 'number');
      assert.equal(typeof cpu.proxy, path === long.direct ? 'object' : 'number');
    }
  }
});

test('the targets can run in the generator process', T, async () => {
  const json = parse(await bench(['--json', ...TINY, '--in-process-targets']));
  checkJson(json, 1);
  assert.equal(json.config.targets, 'in-process');
});

test('bad arguments exit 2 with one line', T, async () => {
  for (const args of [
    ['--streams', '0'],
    ['--duration', 'soon'],
    ['--bytes', '12q'],
    ['--repeat', '-1'],
    ['-x', 'ftp://127.0.0.1:1080'],
    ['-x', 'socks5://127.0.0.1:1080', '--label', 'a', '--label', 'b'],
    ['--proxy-pid', '123'],
    ['--no-such-option'],
  ]) {
    const result = await bench(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stdout.length, 0);
    assert.match(result.stderr, /^socx: [^\n]+\n$/, args.join(' '));
  }
});

test('--udp-sizes is checked without --udp too: 0, 70000, abc exit 2 with one line', T, async () => {
  for (const sizes of ['0', '70000', 'abc']) {
    const result = await bench(['--udp-sizes', sizes]);
    assert.equal(result.code, 2, `${sizes}: ${result.stderr}`);
    assert.equal(result.stdout.length, 0);
    assert.equal(result.stderr, `socx: --udp-sizes takes payload sizes of 4-65497 bytes, separated by commas, not "${sizes}"\n`);
  }
});

test('--udp with a SOCKS4 proxy: its UDP is null with udpError, every other figure measured, exit 0', T, async () => {
  const open = new SocksServer({});
  const [bound] = await open.listen([{ host: '127.0.0.1', port: 0 }]);
  try {
    const socks4 = `socks4://127.0.0.1:${bound!.port}`;
    const json = parse(await bench(['--json', ...TINY, '--udp', '--udp-sizes', '64', '-x', socks4]));
    checkJson(json, 1);
    const [result] = json.results;
    assert.equal(result?.proxy, socks4);
    assert.equal(result?.udp, null);
    assert.equal(result?.udpError, 'UDP ASSOCIATE needs SOCKS5: use a socks5:// or socks5h:// proxy URL');
    positive(json.direct.udp?.datagramsPerSec, 'direct udp.datagramsPerSec');
    const table = await bench([...TINY, '--udp', '--udp-sizes', '64', '-x', socks4]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout.toString(), /UDP 64 B: datagrams\/s +│ +\S+ +│ +no UDP relay +│/);
  } finally {
    await open.close(0);
  }
});

test('an unreachable proxy exits 1, a refused login 3', T, async () => {
  const closed = await freePort();
  const unreachable = await bench([...TINY, '-x', `socks5h://127.0.0.1:${closed}`]);
  assert.equal(unreachable.code, 1, unreachable.stderr);
  assert.match(unreachable.stderr, /Cannot connect to proxy 127\.0\.0\.1:\d+: connection refused/);
  const denied = await bench([...TINY, '-x', `socks5h://alice:wrong@127.0.0.1:${port}`]);
  assert.equal(denied.code, 3, denied.stderr);
  assert.equal(denied.stdout.length, 0);
});

test('a proxy that grants and then swallows data fails at the --timeout deadline, exit 1', T, async () => {
  const tarpit = await startTarpit();
  try {
    const result = await bench(['--streams', '1', '--duration', '200ms', '--timeout', '400', '-x', `socks5h://127.0.0.1:${tarpit.port}`, '--label', 'tarpit']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^socx: upload through tarpit: upload: no data moved for 400 ms$/m);
    assert.equal(result.stdout.length, 0);
  } finally {
    await tarpit.close();
  }
});

/** Spawns bench, waits for its children (the targets, the connection-rate generators, and socx serve unless
 * -x is given) and for the first measurement to begin, sends the signal, and checks that it and its children are
 * gone within a second. */
async function interrupt(args: string[], children: number, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  const child = spawn(EXE, ['bench', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for (let i = 0; i < 150 && !/\[1\/\d+\]/.test(stderr); i++) await sleep(100);
  assert.match(stderr, /\[1\/\d+\] upload/);
  const helpers = childrenOf(child.pid!);
  // The default --concurrency, 8.
  assert.equal(helpers.length, children + generatorCount(8), `children: ${helpers.join(', ')}`);
  child.kill(signal);
  const code = await Promise.race([exited, sleep(1000).then(() => 'still running' as const)]);
  if (code === 'still running') child.kill('SIGKILL');
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted/);
  // A child killed last may take a moment to be reaped once bench, its parent, is gone.
  for (let i = 0; i < 20 && helpers.some(isAlive); i++) await sleep(50);
  const left = helpers.filter(isAlive);
  // Stopped here all the same, so that a failure leaves nothing running.
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  assert.deepEqual(left, [], 'children left running');
}

test('SIGINT against a proxy that swallows data: bench and its children are gone within a second', T, async () => {
  const tarpit = await startTarpit();
  try {
    await interrupt(['--streams', '1', '--duration', '30s', '--timeout', '60000', '-x', `socks5h://127.0.0.1:${tarpit.port}`], 1);
  } finally {
    await tarpit.close();
  }
});

test('SIGINT stops the run, its socx serve and its targets within a second, and exits 130', T, async () => {
  await interrupt(['--duration', '30s'], 2);
});

test('SIGHUP (the terminal closed) does the same: no socx serve is left behind to take it as a reload', T, async () => {
  await interrupt(['--duration', '30s'], 2, 'SIGHUP');
});
