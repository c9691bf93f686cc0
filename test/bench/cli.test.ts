// `socx bench` as users run it (the built dist/socx): tiny sizes, checking that it works and what it prints,
// never how fast anything is.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchJson } from '../../lib/bench/summary.ts';
import { SocksServer } from '../../lib/server/server.ts';
import { freePort, run, type RunResult } from '../support/process.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';

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

test('the table goes to stdout, with no colour', T, async () => {
  const result = await bench([...SMALL, '--streams', '1']);
  assert.equal(result.code, 0, result.stderr);
  const out = result.stdout.toString('utf8');
  assert.match(out, /direct/);
  assert.match(out, /socx serve/);
  assert.match(out, /download, 1 stream \(MB\/s\)/);
  assert.match(out, /connect \+ handshake p99/);
  assert.doesNotMatch(out, /2 streams/);
  assert.doesNotMatch(out + result.stderr, /\x1b\[/);
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

test('an unreachable proxy exits 1, a refused login 3', T, async () => {
  const closed = await freePort();
  const unreachable = await bench([...TINY, '-x', `socks5h://127.0.0.1:${closed}`]);
  assert.equal(unreachable.code, 1, unreachable.stderr);
  assert.match(unreachable.stderr, /Cannot connect to proxy 127\.0\.0\.1:\d+: connection refused/);
  const denied = await bench([...TINY, '-x', `socks5h://alice:wrong@127.0.0.1:${port}`]);
  assert.equal(denied.code, 3, denied.stderr);
  assert.equal(denied.stdout.length, 0);
});

/** The children of `pid`, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).flatMap((name) => {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('SIGINT stops the run, its socx serve and its targets, and exits 130', T, async () => {
  const child = spawn(EXE, ['bench', '--duration', '30s'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let helpers: number[] = [];
  for (let i = 0; i < 100 && helpers.length < 2; i++) {
    await sleep(100);
    helpers = childrenOf(child.pid!);
  }
  assert.equal(helpers.length, 2, 'expected the targets and socx serve as children');
  await sleep(300);
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /interrupted/);
  for (let i = 0; i < 50 && helpers.some(alive); i++) await sleep(100);
  assert.deepEqual(helpers.filter(alive), [], 'children left running');
});
