/** The primary's WorkerPool with workers that fail, crash or answer (worker-pool-fixture.ts): a start-up failure
 * is the worker's own error, crash loops back off, the answers come back per worker. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { run } from '../support/process.ts';

const FIXTURE = path.join(import.meta.dirname, 'worker-pool-fixture.ts');

async function pool(mode: string): Promise<Record<string, unknown>> {
  const result = await run(process.execPath, [FIXTURE, mode], { timeoutMs: 30_000 });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.toString()) as Record<string, unknown>;
}

test('a worker that cannot start fails the start with its own error, and no restart is tried', async () => {
  const result = await pool('fail');
  assert.deepEqual(result.error, { code: 'network', message: 'worker 1: cannot listen on 192.0.2.1:1: test' });
  assert.deepEqual(result.lines, []);
});

test('workers that keep dying young are restarted after 200 ms, then 400 ms: each death one line, each restart a new pid', async () => {
  const result = await pool('crash');
  const lines = result.lines as string[];
  assert.equal(lines.length, 4, String(lines));
  const deaths: Array<RegExpExecArray | null> = lines.map((line) => /^worker ([12]) \(pid (\d+)\) exited with code 3; starting a new one in (\d+) ms$/.exec(line));
  assert.ok(deaths.every((match) => match !== null), String(lines));
  for (const worker of ['1', '2']) {
    const own: RegExpExecArray[] = deaths.filter((match): match is RegExpExecArray => match?.[1] === worker);
    assert.deepEqual(own.map((match) => Number(match[3])), [200, 400], String(lines));
    assert.notEqual(own[0]![2], own[1]![2]);
  }
});

test('status and reload are answered by every worker, in worker order; a failed reload says why', async () => {
  const result = await pool('serve');
  assert.deepEqual(result.bound, [{ host: '127.0.0.1', port: 4001 }]);
  const pids = result.pids as number[];
  const status = result.status as Array<{ worker: number; pid: number; value: { connections: { total: number } } }>;
  assert.deepEqual(status.map(({ worker, pid, value }) => [worker, pid, value.connections.total]), [[1, pids[0], 1], [2, pids[1], 2]]);
  assert.deepEqual((result.reload as Array<{ value: unknown }>).map(({ value }) => value), [null, 'bad file']);
});
