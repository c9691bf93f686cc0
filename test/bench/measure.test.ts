// The measurements themselves, in process: exact byte counts, every sample recorded, through a real
// SocksServer and directly. Nothing here checks how fast anything is.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { measureConnectionRate } from '../../lib/bench/connection-rate.ts';
import { measureRoundTrips } from '../../lib/bench/latency.ts';
import { pingPlan, proxyPath, type BenchPath } from '../../lib/bench/paths.ts';
import { formatProgress, measurementPlan, runMeasurements } from '../../lib/bench/runner.ts';
import type { Targets } from '../../lib/bench/targets.ts';
import { measureThroughput } from '../../lib/bench/throughput.ts';
import { measureUdp } from '../../lib/bench/udp.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { SocxError } from '../../lib/errors.ts';
import { SocksServer } from '../../lib/server/server.ts';
import { hex, startRogue, WAIT_MS, withTimeout } from '../helpers/net.ts';
import { startBenchFixture, type BenchFixture } from './fixture.ts';
import { startTarpit } from './tarpit.ts';

let fixture: BenchFixture;
let targets: Targets;
let paths: BenchPath[];

before(async () => {
  fixture = await startBenchFixture();
  ({ targets, paths } = fixture);
});

after(() => fixture.close());

test('byte-bounded throughput moves the bytes asked for (rounded up to equal blocks)', async () => {
  for (const path of paths) {
    for (const direction of ['upload', 'download'] as const) {
      const one = await measureThroughput(path, { direction, streams: 1, bytes: 3 * 2 ** 20 + 5, durationMs: 1000, timeoutMs: 5000 });
      assert.equal(one.bytes, 4 * 786_434, `${path.name} ${direction}`);
      assert.ok(one.seconds > 0 && Number.isFinite(one.MBps) && one.MBps > 0);
      const three = await measureThroughput(path, { direction, streams: 3, bytes: 300_000, durationMs: 1000, timeoutMs: 5000 });
      assert.equal(three.bytes, 300_000, `${path.name} ${direction} x3`);
    }
  }
});

test('duration-bounded throughput runs for about the duration and counts what arrived', async () => {
  for (const direction of ['upload', 'download'] as const) {
    const result = await measureThroughput(paths[1]!, { direction, streams: 2, bytes: undefined, durationMs: 150, timeoutMs: 5000 });
    assert.ok(result.bytes > 0, direction);
    assert.ok(result.seconds >= 0.14, `${direction}: ${result.seconds} s`);
  }
});

test('connection rate records one handshake and one first-byte time per connection', async () => {
  for (const path of paths) {
    const result = await measureConnectionRate(pingPlan(path.proxy, path.pingTarget), { concurrency: 3, durationMs: 150, timeoutMs: 5000 });
    assert.equal(result.failures, 0, String(result.firstError));
    assert.ok(result.connections > 0);
    assert.equal(result.handshakeMs.length, result.connections);
    assert.equal(result.firstByteMs.length, result.connections);
    for (let i = 0; i < result.connections; i++) assert.ok(result.firstByteMs[i]! >= result.handshakeMs[i]!);
  }
});

test('round trips: one sample per message, whatever the message size', async () => {
  for (const messageSize of [1, 64, 100_000]) {
    const samples = await measureRoundTrips(paths[1]!, { messages: 25, messageSize, timeoutMs: 5000 });
    assert.equal(samples.length, 25);
    assert.ok(samples.every((ms) => ms > 0 && Number.isFinite(ms)));
  }
});

test('the runner interleaves paths and repeats every measurement', async () => {
  const order: string[] = [];
  const spec = { streams: 2, concurrency: 2, bytes: 65536, durationMs: 50, messages: 5, messageSize: 8, repeat: 2, timeoutMs: 5000, udpSizes: [], udpWindow: 8 };
  const samples = await runMeasurements(paths, spec, { onProgress: (progress) => order.push(formatProgress(progress)) });
  const plan = measurementPlan(spec);
  assert.equal(order.length, plan.length * paths.length * 2);
  // Within a measurement the paths follow each other; the second round starts with the other path.
  const steps = plan.length * paths.length * 2;
  assert.match(order[0]!, new RegExp(`^\\[1/${steps}\\] upload, 1 stream: direct \\(1/2\\) — ~\\d+ s left$`));
  assert.match(order[1]!, new RegExp(`^\\[2/${steps}\\] upload, 1 stream: socx \\(1/2\\) — `));
  assert.match(order[plan.length * 2]!, new RegExp(`^\\[${plan.length * 2 + 1}/${steps}\\] upload, 1 stream: socx \\(2/2\\) — `));
  for (const entry of samples) {
    for (const runs of Object.values(entry.throughput)) assert.equal(runs.length, 2);
    assert.equal(entry.connections.length, 2);
    assert.equal(entry.latency.length, 2);
  }
});

test('a refused login fails with auth-failed, not a hang', async () => {
  const wrong = proxyPath(targets, parseProxyUrl(`socks5h://bench:nope@127.0.0.1:${paths[1]!.proxy!.port}`), { timeoutMs: 5000 });
  await assert.rejects(measureThroughput(wrong, { direction: 'upload', streams: 1, bytes: 1024, durationMs: 100, timeoutMs: 5000 }),
    (error: unknown) => error instanceof SocxError && error.code === 'auth-failed');
});

test('a proxy that grants and then swallows data fails every measurement at its deadline, not a hang', async () => {
  const tarpit = await startTarpit();
  try {
    const path = proxyPath(targets, parseProxyUrl(`socks5h://127.0.0.1:${tarpit.port}`), { name: 'tarpit', timeoutMs: 300 });
    const timedOut = (error: unknown): boolean => error instanceof SocxError && error.code === 'timeout';
    for (const direction of ['upload', 'download'] as const) {
      for (const bytes of [undefined, 1024]) {
        await assert.rejects(measureThroughput(path, { direction, streams: 2, bytes, durationMs: 100, timeoutMs: 300 }), timedOut, `${direction} ${bytes}`);
      }
    }
    await assert.rejects(measureRoundTrips(path, { messages: 10, messageSize: 64, timeoutMs: 300 }), timedOut);
    const rate = await measureConnectionRate(pingPlan(path.proxy, path.pingTarget), { concurrency: 2, durationMs: 700, timeoutMs: 300 });
    assert.equal(rate.connections, 0);
    assert.ok(rate.timeouts >= 2, `timeouts: ${rate.timeouts}`);
    assert.match(rate.firstError ?? '', /no answer within 300 ms/);
    assert.ok(tarpit.granted > 0);
  } finally {
    await tarpit.close();
  }
});

test('an aborted measurement stops at once with "aborted"', async () => {
  const tarpit = await startTarpit();
  try {
    const path = proxyPath(targets, parseProxyUrl(`socks5h://127.0.0.1:${tarpit.port}`), { name: 'tarpit', timeoutMs: 60_000 });
    const aborted = (error: unknown): boolean => error instanceof SocxError && error.code === 'aborted';
    const abort = new AbortController();
    const upload = measureThroughput(path, { direction: 'upload', streams: 1, bytes: undefined, durationMs: 60_000, timeoutMs: 60_000 }, abort.signal);
    const trips = measureRoundTrips(path, { messages: 10, messageSize: 64, timeoutMs: 60_000 }, abort.signal);
    const rate = measureConnectionRate(pingPlan(path.proxy, path.pingTarget), { concurrency: 2, durationMs: 60_000, timeoutMs: 60_000 }, abort.signal);
    for (let i = 0; i < 300 && tarpit.granted < 4; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    abort.abort();
    await assert.rejects(upload, aborted);
    await assert.rejects(trips, aborted);
    assert.equal((await rate).connections, 0);
  } finally {
    await tarpit.close();
  }
});

test('an abort during the SOCKS handshake ends the measurement (or the UDP ASSOCIATE) at once with "aborted", and closes every stream', async () => {
  // A proxy that takes the greeting and never answers: each measurement is still setting up its connections.
  const silent = await startRogue(() => {});
  try {
    const path = proxyPath(targets, parseProxyUrl(`socks5h://127.0.0.1:${silent.port}`), { name: 'silent', timeoutMs: 60_000 });
    const aborted = (error: unknown): boolean => error instanceof SocxError && error.code === 'aborted';
    const abort = new AbortController();
    const upload = measureThroughput(path, { direction: 'upload', streams: 2, bytes: undefined, durationMs: 60_000, timeoutMs: 60_000 }, abort.signal);
    const trips = measureRoundTrips(path, { messages: 10, messageSize: 64, timeoutMs: 60_000 }, abort.signal);
    const udp = path.openUdp(abort.signal);
    const peers = await Promise.all([0, 1, 2, 3].map((index) => silent.peer(index)));
    abort.abort();
    await assert.rejects(upload, aborted);
    await assert.rejects(trips, aborted);
    await assert.rejects(udp, aborted);
    // The rogue's sockets are half-open ones: the client's close shows as the end of what it sends.
    await withTimeout(Promise.all(peers.map(({ socket }) => socket.readableEnded || new Promise((resolve) => socket.once('end', resolve)))), WAIT_MS, 'the end of the four connections');
  } finally {
    await silent.close();
  }
});

test('the echo target returns every byte, in order, whatever the read and write sizes', async () => {
  const [path] = paths;
  const { socket } = await path!.open('echo');
  const sent = Buffer.from(Array.from({ length: 3 * 2 ** 20 }, (_, i) => (i * 7 + (i >> 11)) & 0xff));
  const chunks: Buffer[] = [];
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= sent.length) resolve();
    });
  });
  socket.resume();
  socket.write(sent);
  await done;
  socket.destroy();
  assert.ok(Buffer.concat(chunks).equals(sent));
});

test('UDP: every datagram through the relay and directly is counted, with one round trip per message', async () => {
  for (const path of paths) {
    for (const payloadBytes of [64, 1200]) {
      const channel = await path.openUdp();
      try {
        const result = await measureUdp(channel, { payloadBytes, durationMs: 150, window: 8, roundTrips: 50 });
        assert.ok(result.received > 0 && result.received <= result.sent, `${path.name}: ${result.received} of ${result.sent}`);
        assert.equal(result.lossRatio, 1 - result.received / result.sent);
        assert.ok(result.datagramsPerSec > 0);
        assert.equal(result.MBps, (result.datagramsPerSec * payloadBytes) / 1e6);
        // Loopback loses nothing one datagram at a time.
        assert.equal(result.rttMs.count, 50, path.name);
        assert.ok(result.rttMs.p50 > 0 && result.rttMs.p99 >= result.rttMs.p50);
      } finally {
        channel.close();
      }
    }
  }
});

test('UDP: a relay that drops everything gives a loss of 1 and no round trips, within the run', async () => {
  const blackHole = { send: () => {}, onReply: () => {}, close: () => {} };
  const result = await measureUdp(blackHole, { payloadBytes: 64, durationMs: 100, window: 4, roundTrips: 1000 });
  assert.equal(result.received, 0);
  assert.equal(result.lossRatio, 1);
  assert.equal(result.rttMs.count, 0);
  assert.ok(result.sent >= 4);
});

test('UDP: a proxy that refuses UDP ASSOCIATE, or relays nothing, has "no UDP relay", and the run goes on', async () => {
  // Answers the greeting, then refuses any request with "command not supported".
  const refusing = await startRogue(async ({ socket, input }) => {
    await input.until(() => input.length >= 3, WAIT_MS, 'greeting');
    socket.write(hex('05 00'));
    await input.until(() => input.length >= 13, WAIT_MS, 'request');
    socket.end(hex('05 07 00 01 00 00 00 00 00 00'));
  });
  // Grants UDP ASSOCIATE with a relay address where nothing listens.
  const tarpit = await startTarpit();
  try {
    const spec = { streams: 1, concurrency: 1, bytes: 65536, durationMs: 50, messages: 5, messageSize: 8, repeat: 1, timeoutMs: 300, udpSizes: [64], udpWindow: 4 };
    for (const [port, why] of [[refusing.port, /command not supported/], [tarpit.port, /no datagram came back/]] as const) {
      const udpOnly = proxyPath(targets, parseProxyUrl(`socks5h://127.0.0.1:${port}`), { name: 'no relay', timeoutMs: 300 });
      // TCP through socx serve, UDP through the proxy under test.
      const [samples] = await runMeasurements([{ ...paths[1]!, name: 'no relay', openUdp: udpOnly.openUdp }], spec);
      const [udp] = samples!.udp.get(64)!;
      assert.ok(udp && 'error' in udp && why.test(udp.error), JSON.stringify(udp));
      assert.equal(samples!.connections.length, 1);
    }
  } finally {
    await refusing.close();
    await tarpit.close();
  }
});

test('connection rate through SOCKS4, and the refusal of a server that requires a login, word for word', async () => {
  const open = new SocksServer({});
  const [bound] = await open.listen([{ host: '127.0.0.1', port: 0 }]);
  try {
    const socks4 = proxyPath(targets, parseProxyUrl(`socks4://127.0.0.1:${bound!.port}`), { timeoutMs: 5000 });
    const granted = await measureConnectionRate(pingPlan(socks4.proxy, socks4.pingTarget), { concurrency: 2, durationMs: 150, timeoutMs: 5000 });
    assert.equal(granted.failures, 0, granted.firstError);
    assert.ok(granted.connections > 0);
    // The suite's server has users, so it refuses SOCKS4 (CONTRACT.md).
    const refused = proxyPath(targets, parseProxyUrl(`socks4://127.0.0.1:${paths[1]!.proxy!.port}`), { timeoutMs: 5000 });
    const result = await measureConnectionRate(pingPlan(refused.proxy, refused.pingTarget), { concurrency: 1, durationMs: 150, timeoutMs: 5000 });
    assert.equal(result.connections, 0);
    assert.equal(result.firstError, 'SOCKS4 request refused: request rejected or failed');
    const wrongLogin = proxyPath(targets, parseProxyUrl(`socks5h://bench:nope@127.0.0.1:${paths[1]!.proxy!.port}`), { timeoutMs: 5000 });
    // socx serve answers a failed login after a delay (100 ms for the first one from an IP): run long enough.
    assert.equal((await measureConnectionRate(pingPlan(wrongLogin.proxy, wrongLogin.pingTarget), { concurrency: 1, durationMs: 1000, timeoutMs: 5000 })).firstError, 'login refused');
  } finally {
    await open.close(0);
  }
});
