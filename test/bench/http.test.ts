// `socx bench` (the built dist/socx) with an http:// proxy (tinyproxy, HTTP CONNECT) beside a SOCKS one in the
// same run: the HTTP proxy gets every figure a SOCKS proxy gets but UDP (it has no relay). Tiny sizes: this
// checks that it works, never how fast anything is.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BenchJson } from '../../lib/bench/summary.ts';
import { SocksServer } from '../../lib/server/server.ts';
import { startTinyproxy, type Peer } from '../support/peers.ts';
import { run, type RunResult } from '../support/process.ts';

const EXE = path.resolve(import.meta.dirname, '..', '..', 'dist', 'socx');
// A second of connection rate: tinyproxy's first connections can take over 150 ms on a loaded machine.
const TINY = ['--bytes', '64k', '--duration', '1s', '--messages', '10', '--concurrency', '2', '--streams', '2'];
const T = { timeout: 90_000 };

let socks: SocksServer;
let socksPort: number;
let tinyproxy: Peer;

before(async () => {
  socks = new SocksServer({});
  const [bound] = await socks.listen([{ host: '127.0.0.1', port: 0 }]);
  socksPort = bound!.port;
  tinyproxy = await startTinyproxy({ user: 'alice', password: 's3cret' });
});

after(async () => {
  await tinyproxy.stop();
  await socks.close(0);
});

function bench(args: string[]): Promise<RunResult> {
  return run(EXE, ['bench', ...args], { timeoutMs: 80_000, env: { NO_COLOR: '1' } });
}

const positive = (value: unknown, what: string): void => {
  assert.ok(typeof value === 'number' && Number.isFinite(value) && value > 0, `${what} = ${String(value)}`);
};

test('-x http://user:pass@tinyproxy beside -x socks5h://socx: a result for each, compared, UDP only for SOCKS', T, async () => {
  const http = `http://alice:s3cret@127.0.0.1:${tinyproxy.port}`;
  const result = await bench(['--json', ...TINY, '--udp', '--udp-sizes', '64',
    '-x', http, '--label', 'tinyproxy', '-x', `socks5h://127.0.0.1:${socksPort}`, '--label', 'socx']);
  assert.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout.toString('utf8')) as BenchJson;
  assert.deepEqual(json.results.map((entry) => [entry.label, entry.proxy]), [
    ['tinyproxy', `http://alice@127.0.0.1:${tinyproxy.port}`],
    ['socx', `socks5h://127.0.0.1:${socksPort}`],
  ]);
  for (const entry of json.results) {
    positive(entry.throughputMBps, `${entry.label} throughputMBps`);
    positive(entry.ratioToDirect, `${entry.label} ratioToDirect`);
    positive(entry.connectionsPerSec, `${entry.label} connectionsPerSec`);
    positive(entry.handshakeMs.p50, `${entry.label} handshakeMs.p50`);
    assert.ok(entry.handshakeMs.p99 >= entry.handshakeMs.p50);
  }
  const [viaHttp, viaSocks] = json.results;
  assert.equal(viaHttp?.udp, null);
  assert.equal(viaHttp?.udpError, `UDP ASSOCIATE needs a SOCKS proxy: an HTTP proxy (http://127.0.0.1:${tinyproxy.port}) only tunnels TCP connections (CONNECT)`);
  positive(viaSocks?.udp?.datagramsPerSec, 'socx udp.datagramsPerSec');
  assert.doesNotMatch(result.stdout.toString(), /s3cret/);
});

test('wrong credentials for the HTTP proxy exit 3; https:// (TLS to the proxy) is a usage error, exit 2', T, async () => {
  const denied = await bench([...TINY, '-x', `http://alice:wrong@127.0.0.1:${tinyproxy.port}`]);
  assert.equal(denied.code, 3, denied.stderr);
  assert.equal(denied.stdout.length, 0);
  const tls = await bench([...TINY, '-x', `https://127.0.0.1:${tinyproxy.port}`]);
  assert.equal(tls.code, 2, tls.stderr);
  assert.equal(tls.stderr, `socx: bench measures HTTP proxies in plain TCP: https://127.0.0.1:${tinyproxy.port} (TLS to the proxy) is not supported; give http://\n`);
});
