import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIN_RUN_MS, MIN_SAMPLES, tooShort } from '../../lib/bench/runner.ts';
import { percentiles } from '../../lib/bench/stats.ts';

// The judgement itself, on made-up samples: the CLI tests can only check that it is wired in, since how long a
// real run takes depends on the machine.
const cpu = { generator: 1, targets: 1, proxy: undefined };
const throughput = (seconds: number) => ({ MBps: 1, bytes: 1, seconds, cpu });
const connections = (count: number) => ({ perSecond: 1, connections: count, failures: 0, handshakeMs: percentiles([1]), firstByteMs: percentiles([1]), cpu });
const latency = (count: number) => ({ roundTripMs: percentiles(Array.from({ length: count }, () => 0.1)), cpu });

test('a throughput run under MIN_RUN_MS is too short, one of MIN_RUN_MS is not', () => {
  assert.equal(tooShort(throughput(MIN_RUN_MS / 1000 - 0.001)), true);
  assert.equal(tooShort(throughput(MIN_RUN_MS / 1000)), false);
});

test('a connection-rate or round-trip run with fewer than MIN_SAMPLES is too short, however long it took', () => {
  assert.equal(tooShort(connections(MIN_SAMPLES - 1)), true);
  assert.equal(tooShort(connections(MIN_SAMPLES)), false);
  assert.equal(tooShort(latency(MIN_SAMPLES - 1)), true);
  assert.equal(tooShort(latency(MIN_SAMPLES)), false);
});
