// The connection-rate generator split over processes: the loops are shared out, the results merged, the
// password travels on a pipe, and a generator that dies fails the run instead of hanging it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startConnectionLoad } from '../../lib/bench/connection-load.ts';
import type { BenchPath } from '../../lib/bench/paths.ts';
import type { ChildHandle } from '../../lib/bench/processes.ts';
import { SocxError } from '../../lib/errors.ts';
import { startBenchFixture, type BenchFixture } from './fixture.ts';

const self = { file: process.execPath, args: [path.resolve(import.meta.dirname, '../../cmd/main.ts')] };
const SPEC = { concurrency: 3, durationMs: 300, timeoutMs: 5000 };

let fixture: BenchFixture;
let paths: BenchPath[];
const children: ChildHandle[] = [];

before(async () => {
  fixture = await startBenchFixture();
  ({ paths } = fixture);
});

after(async () => {
  await Promise.all(children.map((child) => child.stop()));
  await fixture.close();
});

test('two generator processes share the loops; their counts and samples are merged', async () => {
  const load = await startConnectionLoad(self, 2, children);
  assert.equal(load.pids.length, 2);
  assert.ok(load.pids.every((pid) => pid > 0 && pid !== process.pid));
  for (const each of paths) {
    const result = await load.measure(each, SPEC);
    assert.equal(result.failures, 0, `${each.name}: ${result.firstError}`);
    assert.ok(result.connections > 0, each.name);
    assert.equal(result.handshakeMs.length, result.connections);
    assert.equal(result.firstByteMs.length, result.connections);
    assert.ok(result.perSecond > 0 && result.seconds >= 0.29, `${each.name}: ${result.seconds} s`);
  }
  // More processes than loops: the idle ones are left out.
  const single = await load.measure(paths[1]!, { ...SPEC, concurrency: 1 });
  assert.equal(single.failures, 0, String(single.firstError));
  assert.ok(single.connections > 0);
});

test('a generator process that dies fails the measurement with a named error', async () => {
  const local: ChildHandle[] = [];
  const load = await startConnectionLoad(self, 1, local);
  const running = load.measure(paths[0]!, { ...SPEC, durationMs: 60_000 });
  process.kill(load.pids[0]!, 'SIGKILL');
  await assert.rejects(running, (error: unknown) => error instanceof SocxError && /generator process exited/.test(error.message));
  await Promise.all(local.map((child) => child.stop()));
});

test('an abort ends the wait for the generators at once', async () => {
  const local: ChildHandle[] = [];
  const load = await startConnectionLoad(self, 1, local);
  const abort = new AbortController();
  const running = load.measure(paths[0]!, { ...SPEC, durationMs: 60_000 }, abort.signal);
  abort.abort();
  await assert.rejects(running, (error: unknown) => error instanceof SocxError && error.code === 'aborted');
  await Promise.all(local.map((child) => child.stop()));
});
