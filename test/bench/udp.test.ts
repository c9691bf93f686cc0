// `socx bench --udp` as users run it (the built dist/socx) against UDP relays nobody here wrote: Dante (UDP
// ASSOCIATE enabled) and shadowsocks-libev's ss-local, beside its own socx serve, and microsocks, which has no
// UDP relay. Short runs: what it prints, never how fast anything is.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BenchJson, UdpJson } from '../../lib/bench/summary.ts';
import { startDante, startMicrosocks, type Peer } from '../support/peers.ts';
import { run } from '../support/process.ts';
import { startShadowsocks, type Shadowsocks } from './shadowsocks.ts';

const EXE = path.resolve(import.meta.dirname, '..', '..', 'dist', 'socx');
const T = { timeout: 90_000 };
let dante: Peer;
let shadowsocks: Shadowsocks;
let microsocks: Peer;

before(async () => {
  dante = await startDante({ udp: true });
  shadowsocks = await startShadowsocks();
  microsocks = await startMicrosocks();
});

after(async () => {
  await Promise.allSettled([dante.stop(), shadowsocks.stop(), microsocks.stop()]);
});

function checkUdp(udp: UdpJson | null | undefined, what: string): void {
  assert.ok(udp, `${what}: no udp`);
  assert.equal(udp.payloadBytes, 64, what);
  assert.deepEqual(udp.bySize.map((entry) => entry.payloadBytes), [64, 1200], what);
  for (const entry of udp.bySize) {
    assert.ok(entry.datagramsPerSec > 0, `${what}: ${entry.datagramsPerSec} datagrams/s`);
    assert.ok(entry.lossRatio >= 0 && entry.lossRatio < 1, `${what}: loss ${entry.lossRatio}`);
    assert.ok(entry.rttMs.p50 > 0 && entry.rttMs.p99 >= entry.rttMs.p50, what);
    assert.ok(Math.abs(entry.MBps - (entry.datagramsPerSec * entry.payloadBytes) / 1e6) < 0.02, what);
  }
  assert.equal(udp.datagramsPerSec, udp.bySize[0]!.datagramsPerSec);
}

test('bench --udp measures Dante and shadowsocks-libev, and says microsocks has no UDP relay', T, async () => {
  const result = await run(EXE, [
    'bench', '--udp', '--json', '--streams', '1', '--bytes', '64k', '--duration', '200ms', '--messages', '50', '--concurrency', '2',
    '-x', `socks5h://127.0.0.1:${dante.port}`, '--label', 'Dante',
    '-x', `socks5h://127.0.0.1:${shadowsocks.port}`, '--label', 'ss-local',
    '-x', `socks5h://127.0.0.1:${microsocks.port}`, '--label', 'microsocks',
  ], { timeoutMs: 80_000, env: { NO_COLOR: '1' } });
  assert.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout.toString('utf8')) as BenchJson;
  checkUdp(json.direct.udp, 'direct');
  const [viaDante, viaShadowsocks, viaMicrosocks] = json.results;
  checkUdp(viaDante!.udp, 'Dante');
  checkUdp(viaShadowsocks!.udp, 'ss-local');
  assert.equal(viaMicrosocks!.udp, null);
  assert.match(viaMicrosocks!.udpError ?? '', /proxy refused/);
  assert.match(result.stderr, /\] UDP, 1200-byte datagrams: ss-local/);
});

test('bench --udp with its own socx serve prints the UDP rows', T, async () => {
  const result = await run(EXE, ['bench', '--udp', '--udp-sizes', '100', '--streams', '1', '--bytes', '64k', '--duration', '200ms', '--messages', '50', '--concurrency', '2'], { timeoutMs: 80_000, env: { NO_COLOR: '1' } });
  assert.equal(result.code, 0, result.stderr);
  const out = result.stdout.toString('utf8');
  for (const row of ['datagrams/s', 'MB/s', 'loss', 'round trip p50 \\(ms\\)', 'round trip p99 \\(ms\\)']) assert.match(out, new RegExp(`UDP 100 B: ${row} +│ +\\S`));
  assert.doesNotMatch(out, /UDP 64 B/);
});

test('bad --udp-sizes exit 2', T, async () => {
  for (const sizes of ['0', '3', 'abc', '64,', '70000']) {
    const result = await run(EXE, ['bench', '--udp', '--udp-sizes', sizes], { timeoutMs: 20_000 });
    assert.equal(result.code, 2, `${sizes}: ${result.stderr}`);
    assert.match(result.stderr, /^socx: --udp-sizes takes payload sizes/);
  }
});
