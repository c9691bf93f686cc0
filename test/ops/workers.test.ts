/** `socx serve --workers N` (issue 15, item 1), on the built executable and the bundle: the workers share the
 * listeners (port 0 included) and all serve; a killed worker is replaced and logged; SIGHUP reaches every
 * worker; SIGTERM drains them all and the primary exits 0; the per-IP cap is divided among them; bad counts
 * are usage errors; without --workers there is one process. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { toAddress } from '../../lib/codec/address.ts';
import { SocxError } from '../../lib/errors.ts';
import { closeServer, listen, startEcho, withTimeout, type EchoServer } from '../helpers/net.ts';
import { assertOneErrorLine, runSocx, waitForOutput } from '../interop/socx.ts';
import { parentPid } from '../../lib/bench/listener-pid.ts';
import { cpuBudget } from '../../lib/cpu-budget.ts';
import { childrenOf, freePort, isAlive } from '../support/process.ts';
import { tempFiles } from './cli.ts';
import { startServe, type Program, type ServeProcess } from './serve-process.ts';

let echo: EchoServer;
const files = tempFiles();
const held = new Set<Socket>();

before(async () => { echo = await startEcho(); });
after(async () => {
  for (const socket of held) socket.destroy();
  await echo.close();
  files.remove();
});

/** A CONNECT to the echo server through the proxy, kept open (so that the status counts it): the socket, or
 * the error code. */
async function hold(port: number, userPass = ''): Promise<Socket | string> {
  try {
    const session = await openSession('connect', toAddress('127.0.0.1', echo.port), { proxy: parseProxyUrl(`socks5h://${userPass}127.0.0.1:${port}`), timeoutMs: 10_000 });
    // A drain resets what is still open after the grace period.
    session.socket.on('error', () => {});
    held.add(session.socket);
    return session.socket;
  } catch (error) {
    return error instanceof SocxError ? error.code : String(error);
  }
}

const release = (): void => {
  for (const socket of held) socket.destroy();
  held.clear();
};

const WORKER_LINE = /^socx: {3}worker (\d+) \(pid (\d+)\): (\d+) open/gm;

/** The workers of the last status: number → { pid, open connections }. */
function workersOf(status: string): Map<number, { pid: number; open: number }> {
  return new Map([...status.matchAll(WORKER_LINE)].map((m) => [Number(m[1]), { pid: Number(m[2]), open: Number(m[3]) }]));
}

/**
 * Opens connections (kept open) until the status shows each of the `count` workers holding at least one: the
 * kernel spreads connections by a hash of their ports, so each new one lands on either worker; 64 tries make
 * missing one a 2^-63 event. Returns the workers' pids.
 */
async function everyWorkerServes(serve: ServeProcess, count: number, userPass = ''): Promise<number[]> {
  for (let opened = 0; opened < 64; opened += 4) {
    for (let i = 0; i < 4; i++) assert.ok(typeof (await hold(serve.port, userPass)) !== 'string', 'a connection through the workers failed');
    const status = await serve.statusUntil(new RegExp(`connections: ${held.size} open`));
    const workers = workersOf(status);
    assert.equal(workers.size, count, status);
    if ([...workers.values()].every((worker) => worker.open > 0)) return [...workers.values()].map((worker) => worker.pid);
  }
  throw new Error(`after 64 connections, not every worker had one:\n${serve.output()}`);
}

for (const program of ['sea', 'bundle'] as const satisfies Program[]) {
  test(`${program}: --workers 2 on port 0: one ready line, two worker processes of the primary, both serving; SIGTERM drains both, exit 0`, async () => {
    const serve = await startServe(['-l', '127.0.0.1:0', '--workers', '2', '--auth', 'alice:argv-secret-42'], {}, program);
    try {
      await serve.started();
      assert.equal(serve.output().match(/listening on /g)?.length, 1, serve.output());
      assert.match(serve.output(), /^socx: workers: 2 processes \(pid \d+, \d+\) on the same listeners \(SO_REUSEPORT\); the limits below are per worker$/m);
      const pids = await everyWorkerServes(serve, 2, 'alice:argv-secret-42@');
      assert.equal(new Set(pids).size, 2);
      for (const pid of pids) {
        assert.equal(parentPid(pid), serve.pid);
        // Settings go over the IPC channel: the password is not on a worker's command line.
        assert.doesNotMatch(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /argv-secret-42/);
      }
      process.kill(serve.pid, 'SIGTERM');
      await waitForOutput({ output: () => (serve.child.exitCode === null ? '' : 'exited') }, /exited/, 10_000);
      assert.equal(serve.child.exitCode, 0, serve.output());
      assert.match(serve.output(), /SIGTERM: no longer accepting; open connections have 200 ms to finish/);
      for (const pid of pids) assert.equal(isAlive(pid), false, `worker ${pid} outlived the primary`);
    } finally {
      release();
      await serve.stop();
    }
  });
}

test('a fixed port: the workers bind it at once, and both serve', async () => {
  // Racy by nature (the port is free a moment ago), which is what a fixed port is.
  const port = await freePort();
  const serve = await startServe(['-l', `127.0.0.1:${port}`, '--workers', '2']);
  try {
    assert.equal(serve.port, port);
    assert.equal(new Set(await everyWorkerServes(serve, 2)).size, 2);
  } finally {
    release();
    await serve.stop();
  }
});

test('a killed worker is logged in one line and replaced; the service goes on on both', async () => {
  const serve = await startServe(['-l', '127.0.0.1:0', '--workers', '2']);
  try {
    const [victim, survivor] = await everyWorkerServes(serve, 2);
    release();
    process.kill(victim!, 'SIGKILL');
    await waitForOutput(serve, new RegExp(`^socx: worker \\d \\(pid ${victim}\\) was killed by SIGKILL; starting a new one in \\d+ ms$`, 'm'), 10_000);
    const status = await serve.statusUntil(/worker 1 \(pid \d+\)[^\n]*\n.*worker 2 \(pid \d+\)/);
    const pids = [...workersOf(status).values()].map((worker) => worker.pid);
    assert.ok(pids.includes(survivor!) && !pids.includes(victim!), status);
    const replacement = pids.find((pid) => pid !== survivor)!;
    assert.equal(parentPid(replacement), serve.pid);
    assert.deepEqual(new Set(await everyWorkerServes(serve, 2)), new Set([survivor, replacement]));
  } finally {
    release();
    await serve.stop();
  }
});

test('a replacement worker runs the settings the others run, not the files as they are now: an edit, good or bad, waits for SIGHUP', async () => {
  const users = files.write('users-replaced.txt', 'alice:old-pass\n');
  const config = files.write('socx-replaced.yaml', `listen: 127.0.0.1:0\nworkers: 2\nusers-file: ${users}\n`);
  const serve = await startServe(['--config', config]);
  /** Kills one worker and waits until its replacement answers the status with the other. */
  const replace = async (victim: number): Promise<void> => {
    process.kill(victim, 'SIGKILL');
    await waitForOutput(serve, new RegExp(`\\(pid ${victim}\\) was killed by SIGKILL; starting a new one`), 10_000);
    const status = await serve.statusUntil(/worker 1 \(pid \d+\)[^\n]*\n.*worker 2 \(pid \d+\)/);
    assert.ok(![...workersOf(status).values()].some((worker) => worker.pid === victim), status);
  };
  try {
    await serve.started();
    const [first] = await everyWorkerServes(serve, 2, 'alice:old-pass@');
    release();
    // A valid edit not reloaded: the replacement keeps alice, as the other worker does, and has no bob.
    files.write('users-replaced.txt', 'bob:new-pass\n');
    await replace(first!);
    const [second] = await everyWorkerServes(serve, 2, 'alice:old-pass@');
    release();
    // A broken file: the replacement starts all the same (it used to fail, again and again).
    files.write('socx-replaced.yaml', 'bogus: 1\n');
    await replace(second!);
    await everyWorkerServes(serve, 2, 'alice:old-pass@');
    release();
    assert.doesNotMatch(serve.output(), /bogus/);
    // SIGHUP is what reads the files: the broken one is refused in one line and alice stays; the fixed one
    // brings bob in on every worker, and the next replacement has him too.
    await serve.signal('SIGHUP', /SIGHUP: reload failed, keeping the old settings: .*bogus/);
    files.write('socx-replaced.yaml', `listen: 127.0.0.1:0\nworkers: 2\nusers-file: ${users}\n`);
    await serve.signal('SIGHUP', /SIGHUP: settings reloaded \(1 user\(s\)\)/);
    const [third] = await everyWorkerServes(serve, 2, 'bob:new-pass@');
    release();
    await replace(third!);
    await everyWorkerServes(serve, 2, 'bob:new-pass@');
  } finally {
    release();
    await serve.stop();
  }
});

test('workers whose primary is killed drain and exit rather than serve unmanaged', async () => {
  const serve = await startServe(['-l', '127.0.0.1:0', '--workers', '2']);
  try {
    const pids = await everyWorkerServes(serve, 2);
    process.kill(serve.pid, 'SIGKILL');
    // --grace is 200 ms here: bounded, generous for a loaded machine.
    for (let waited = 0; pids.some(isAlive) && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(pids.filter(isAlive), []);
  } finally {
    release();
    await serve.stop();
  }
});

test('--metrics with workers: one /metrics on the primary with the totals; /readyz is 503 while they drain', async () => {
  const serve = await startServe(['-l', '127.0.0.1:0', '--workers', '2', '--metrics', '127.0.0.1:0', '--grace', '10s']);
  try {
    await serve.started();
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(serve.output())?.[1]);
    const get = async (path: string): Promise<{ status: number; body: string }> => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}${path}`);
      return { status: response.status, body: await response.text() };
    };
    await everyWorkerServes(serve, 2);
    const metrics = await get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, new RegExp(`^socx_connections_active ${held.size}$`, 'm'));
    assert.match(metrics.body, new RegExp(`^socx_connections_accepted_total ${held.size}$`, 'm'));
    assert.match(metrics.body, /^socx_build_info\{version="[^"]+"\} 1$/m);
    assert.equal((await get('/readyz')).status, 200);
    process.kill(serve.pid, 'SIGTERM');
    await waitForOutput(serve, /SIGTERM: no longer accepting/);
    assert.deepEqual(await get('/readyz'), { status: 503, body: 'draining\n' });
    release();
    await waitForOutput({ output: () => (serve.child.exitCode === null ? '' : 'exited') }, /exited/, 10_000);
    assert.equal(serve.child.exitCode, 0, serve.output());
  } finally {
    release();
    await serve.stop();
  }
});

test('/readyz is 503 while no worker listens (all killed, their replacements failing on a broken config file), 200 again once one does', async () => {
  const config = (extra: string): string => files.write('ready.yaml', `listen: 127.0.0.1:0\nworkers: 2\nmetrics: 127.0.0.1:0\n${extra}`);
  const serve = await startServe(['--config', config('')]);
  try {
    await serve.started();
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(serve.output())?.[1]);
    const readyz = async (): Promise<string> => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      return `${response.status} ${await response.text()}`;
    };
    const until = async (expected: string): Promise<void> => {
      for (let answer = await readyz(); answer !== expected; answer = await readyz()) {
        if (serve.child.exitCode !== null) throw new Error(`serve exited:\n${serve.output()}`);
      }
    };
    assert.equal(await readyz(), '200 ready\n');
    config('bogus: 1\n');
    for (const pid of childrenOf(serve.pid)) process.kill(pid, 'SIGKILL');
    await withTimeout(until('503 no worker is listening (they are being restarted)\n'), 10_000, '/readyz to say 503');
    config('');
    await withTimeout(until('200 ready\n'), 20_000, '/readyz to say 200 again');
    assert.ok(typeof (await hold(serve.port)) !== 'string', 'a restarted worker serves');
  } finally {
    release();
    await serve.stop();
  }
});

test('SIGHUP reaches every worker: a user added to the file logs in on both, a removed one is refused', async () => {
  const users = files.write('users.txt', 'alice:old-pass\n');
  const config = files.write('socx.yaml', `listen: 127.0.0.1:0\nworkers: 2\nusers-file: ${users}\n`);
  const serve = await startServe(['--config', config]);
  try {
    await serve.started();
    assert.match(serve.output(), /workers: 2 processes/);
    assert.equal(await hold(serve.port, 'bob:new-pass@'), 'auth-failed');
    files.write('users.txt', 'bob:new-pass\n');
    await serve.signal('SIGHUP', /SIGHUP: settings reloaded \(1 user\(s\)\)/);
    await everyWorkerServes(serve, 2, 'bob:new-pass@');
    assert.equal(await hold(serve.port, 'alice:old-pass@'), 'auth-failed');
    assert.doesNotMatch(serve.output(), /kept its old settings|did not answer/);
  } finally {
    release();
    await serve.stop();
  }
});

test('the failed-login budget is per source, not per worker: after 5 wrong passwords on either worker, the right one is refused on both', async () => {
  const serve = await startServe(['-l', '127.0.0.1:0', '--workers', '2', '--auth', 'alice:right-pass']);
  try {
    await serve.started();
    await everyWorkerServes(serve, 2, 'alice:right-pass@');
    release();
    // However the kernel spreads these, a worker that saw fewer than 5 would let the right password in below.
    const wrong = await Promise.all(Array.from({ length: 5 }, () => hold(serve.port, 'alice:wrong-pass@')));
    assert.deepEqual(wrong, Array(5).fill('auth-failed'));
    // 8 at once: no more than a worker lets wait out their refusals together (MAX_PENDING_LOGINS).
    const right = await Promise.all(Array.from({ length: 8 }, () => hold(serve.port, 'alice:right-pass@')));
    assert.deepEqual(right, Array(8).fill('auth-failed'), 'the right password got in on a worker that did not hear of the failures');
    // Each refusal's log line is written as its connection ends, just after the reply.
    const refusals = (): string => String(serve.output().match(/ login refused unchecked: more than 5 failed logins, .* \(login-rate\) /g)?.length ?? 0);
    await waitForOutput({ output: refusals }, /^8$/, 10_000);
  } finally {
    release();
    await serve.stop();
  }
});

test('--max-connections-per-ip 2 with 2 workers: each worker takes 1 from an IP, so 2 in all, the rest refused', async () => {
  const serve = await startServe(['-l', '127.0.0.1:0', '--workers', '2', '--max-connections-per-ip', '2']);
  try {
    await serve.started();
    assert.match(serve.output(), /limits per worker: .*per IP 1,/);
    const results = [];
    // 20 tries reach both workers but for a 2^-19 chance; every try after the second is refused.
    for (let i = 0; i < 20; i++) results.push(await hold(serve.port));
    assert.equal(results.filter((result) => typeof result !== 'string').length, 2, String(results));
    const status = await serve.statusUntil(/connections: 2 open/);
    assert.deepEqual([...workersOf(status).values()].map((worker) => worker.open), [1, 1]);
  } finally {
    release();
    await serve.stop();
  }
});

test('a port already taken (by anything, another set of workers too) stops the start: one line, exit 1', async () => {
  const taken = createServer();
  const port = await listen(taken, '127.0.0.1');
  const other = await startServe(['-l', '127.0.0.1:0', '--workers', '2']);
  try {
    for (const busy of [port, other.port]) {
      const result = await runSocx(['serve', '-l', `127.0.0.1:${busy}`, '--workers', '2']);
      assert.equal(result.code, 1, result.stderr);
      assertOneErrorLine(result.stderr);
      assert.match(result.stderr, new RegExp(`^socx: cannot listen on 127\\.0\\.0\\.1:${busy}: `));
    }
  } finally {
    await other.stop();
    await closeServer(taken);
  }
});

describe('counts', () => {
  for (const bad of ['0', 'abc', '257', '1.5']) {
    test(`--workers ${bad} is a usage error`, async () => {
      const result = await runSocx(['serve', '-l', '127.0.0.1:0', '--workers', bad]);
      assert.equal(result.code, 2, result.stderr);
      assertOneErrorLine(result.stderr);
      assert.match(result.stderr, new RegExp(`--workers must be a whole number from 1 to 256 or auto, not "${bad}"`));
    });
  }

  test('--workers auto starts one per usable core (cpuBudget: the affinity list, capped by a CPU quota)', async () => {
    const serve = await startServe(['-l', '127.0.0.1:0', '--workers', 'auto']);
    try {
      await serve.started();
      const cores = cpuBudget();
      if (cores > 1) assert.match(serve.output(), new RegExp(`workers: ${cores} processes`));
      else assert.doesNotMatch(serve.output(), /workers:/);
    } finally {
      await serve.stop();
    }
  });

  test('without --workers, one process serves: no child, no workers line', async () => {
    const serve = await startServe(['-l', '127.0.0.1:0']);
    try {
      await serve.started();
      assert.equal(typeof (await hold(serve.port)), 'object');
      assert.equal(readFileSync(`/proc/${serve.pid}/task/${serve.pid}/children`, 'utf8').trim(), '');
      assert.doesNotMatch(serve.output(), /workers:|per worker/);
    } finally {
      release();
      await serve.stop();
    }
  });
});
