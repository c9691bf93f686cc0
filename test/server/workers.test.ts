/** The pure parts of `serve --workers`: each worker's share of a cap, the restart delay, the status totals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatWorkersStatus } from '../../cmd/serve-status.ts';
import type { ServerStatus } from '../../lib/server/server.ts';
import { perWorker, restartDelayMs, totalStatus } from '../../lib/server/workers.ts';

test('a cap divided among workers rounds up, and 0 (no limit) stays 0', () => {
  assert.deepEqual([[0, 2], [1, 2], [2, 2], [3, 2], [16, 2], [32, 3], [5, 1]].map(([cap, n]) => perWorker(cap!, n!)), [0, 1, 1, 2, 8, 11, 5]);
});

test('restarts wait longer while a worker keeps dying young, up to 10 s', () => {
  assert.deepEqual([0, 1, 2, 3, 6, 7, 20].map(restartDelayMs), [100, 200, 400, 800, 6400, 10_000, 10_000]);
});

const status = (total: number, handshake: number, clients: Array<[string, number]>, bytesUp: number, bytesDown: number, startedAt = 0): ServerStatus => ({
  startedAt,
  connections: { handshake, relaying: total - handshake, total },
  topClients: clients,
  bytesUp,
  bytesDown,
});

test('the totals add the counts and merge the top clients of every worker', () => {
  const one = status(3, 1, [['192.0.2.1', 2], ['192.0.2.2', 1]], 100, 1000);
  const two = status(4, 0, [['192.0.2.2', 3], ['192.0.2.3', 1]], 50, 2048);
  assert.deepEqual(totalStatus([one, two], 7), status(7, 1, [['192.0.2.2', 4], ['192.0.2.1', 2], ['192.0.2.3', 1]], 150, 3048, 7));
});

test('SIGUSR1 under --workers: totals first, then one line per worker, "no answer" for a silent one', () => {
  const text = formatWorkersStatus([
    { worker: 1, pid: 101, value: status(2, 1, [['192.0.2.1', 2]], 2048, 0, 0) },
    { worker: 2, pid: 102, value: undefined },
  ], 0, 65_000);
  assert.equal(text, [
    'socx: status: up 1m 5s (since 1970-01-01T00:00:00.000Z)',
    'socx:   connections: 2 open: 1 in handshake, 1 past it (connecting or relaying)',
    'socx:   traffic: 2.0 KiB from clients, 0 B to clients',
    'socx:   top clients:',
    'socx:     192.0.2.1                               2',
    'socx:   worker 1 (pid 101): 2 open, 1 in handshake; up 1m 5s; 2.0 KiB from clients, 0 B to clients',
    'socx:   worker 2 (pid 102): no answer',
    '',
  ].join('\n'));
});
