// HAProxy (the Debian package) in TCP mode with send-proxy-v2 in front of two built `socx serve` instances:
// curl through HAProxy reaches the target byte-exact, each instance logs the real client (curl binds
// 127.0.0.5, HAProxy connects from 127.0.0.1), killing one instance loses only its connections, and a
// SIGTERM drain turns /readyz to 503 so that HAProxy takes the instance out while its transfer finishes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort, requireBinary, run, startProcess, type RunResult, type Started } from '../support/process.ts';
import { Cleanup, describeRun, sha256, startSocxServe, waitForOutput, type SocxServer } from './socx.ts';

const T = { timeout: 90_000 };
const CLIENT_IP = '127.0.0.5';
const BODY = randomBytes(1024 * 1024);
const BODY_SHA = sha256(BODY);

/** An HTTP/1.0 target that sends the first half of BODY at once and the second half once released, so that
 * transfers are in flight, on known instances, when one is killed or drained. */
interface HeldTarget {
  readonly port: number;
  /** Requests whose first half is out. */
  served(): number;
  /** Sends the rest to every held transfer, and all of it to later ones. */
  release(): void;
  hold(): void;
  stop(): Promise<void>;
}

async function startHeldTarget(): Promise<HeldTarget> {
  let released = true;
  let served = 0;
  const waiting = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  const half = BODY.length / 2;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => { sockets.delete(socket); waiting.delete(socket); });
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.write(`HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${BODY.length}\r\n\r\n`);
      socket.write(BODY.subarray(0, half), () => { served++; });
      if (released) socket.end(BODY.subarray(half));
      else waiting.add(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    served: () => served,
    hold: () => { released = false; },
    release: () => {
      released = true;
      for (const socket of waiting) socket.end(BODY.subarray(half));
      waiting.clear();
    },
    stop: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

interface Instance {
  readonly socx: SocxServer;
  readonly metricsPort: number;
}

/** One socx behind the balancer: PROXY protocol from 127.0.0.1 only, /readyz on a port of its own, -v so that
 * each CONNECT is logged as it starts. */
async function startInstance(cleanup: Cleanup): Promise<Instance> {
  const socx = cleanup.add(await startSocxServe([
    '-v', '--proxy-protocol', '--proxy-protocol-from', '127.0.0.1', '--allow-open-proxy', '--allow', 'to=127.0.0.1',
    '--metrics', '127.0.0.1:0', '--grace', '20s',
  ]));
  await waitForOutput(socx, /metrics on http:\/\/127\.0\.0\.1:\d+\//);
  const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\//.exec(socx.output())?.[1]);
  return { socx, metricsPort };
}

interface Fleet {
  readonly port: number;
  readonly a: Instance;
  readonly b: Instance;
  readonly haproxy: Started;
}

/** HAProxy in the foreground (-db), checking each instance's /readyz every 100 ms; a connection that an
 * instance refuses (it stopped accepting) is retried on the other one (option redispatch). */
async function startFleet(cleanup: Cleanup, dir: string): Promise<Fleet> {
  const haproxyBin = requireBinary('/usr/sbin/haproxy', 'haproxy');
  const a = await startInstance(cleanup);
  const b = await startInstance(cleanup);
  const port = await freePort();
  const config = path.join(dir, `haproxy-${port}.cfg`);
  writeFileSync(config, [
    'global',
    '  maxconn 200',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  retries 3',
    '  option redispatch',
    'frontend socks',
    `  bind 127.0.0.1:${port}`,
    '  default_backend socx',
    'backend socx',
    '  balance roundrobin',
    '  source 127.0.0.1',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  default-server inter 100ms fall 1 rise 1 send-proxy-v2',
    `  server a 127.0.0.1:${a.socx.port} check port ${a.metricsPort}`,
    `  server b 127.0.0.1:${b.socx.port} check port ${b.metricsPort}`,
    '',
  ].join('\n'));
  // Ready once the frontend accepts (that probe reaches an instance too, and ends in its greeting).
  const haproxy = cleanup.add(await startProcess(haproxyBin, ['-db', '-f', config], { readyPort: port, readyHost: '127.0.0.1', timeoutMs: 10_000 }));
  return { port, a, b, haproxy };
}

function curl(port: number, target: HeldTarget): Promise<RunResult> {
  return run(requireBinary('curl'), [
    '-sS', '--fail', '--max-time', '40', '--interface', CLIENT_IP, '-x', `socks5h://127.0.0.1:${port}`, `http://127.0.0.1:${target.port}/`,
  ], { timeoutMs: 45_000 });
}

function assertBody(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what}: ${describeRun(r)}`);
  assert.equal(r.stdout.length, BODY.length, `${what}: body length`);
  assert.equal(sha256(r.stdout), BODY_SHA, `${what}: body differs`);
}

/** CONNECTs an instance has begun (-v logs each as it starts). */
const started = (instance: Instance): number => instance.socx.output().match(/ SOCKS5 connect 127\.0\.0\.1:\d+/g)?.length ?? 0;

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('socx behind HAProxy (send-proxy-v2)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'socx-haproxy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('curl through HAProxy reaches the target byte-exact, and both instances log the real client', T, async () => {
    const cleanup = new Cleanup();
    try {
      const target = cleanup.add(await startHeldTarget());
      const fleet = await startFleet(cleanup, dir);
      for (let i = 0; i < 4; i++) assertBody(await curl(fleet.port, target), `transfer ${i}`);
      // Round robin shares them out. The client is curl's 127.0.0.5, the balancer 127.0.0.1.
      const line = new RegExp(`^\\S+ ${CLIENT_IP.replaceAll('.', '\\.')}:\\d+ socks5 connect 127\\.0\\.0\\.1:${target.port} ok .* balancer=127\\.0\\.0\\.1:\\d+$`, 'gm');
      await until(() => [fleet.a, fleet.b].reduce((sum, instance) => sum + (instance.socx.output().match(line)?.length ?? 0), 0) === 4, 'four log lines');
      for (const instance of [fleet.a, fleet.b]) assert.ok((instance.socx.output().match(line)?.length ?? 0) >= 1, instance.socx.output());
    } finally {
      await cleanup.run();
    }
  });

  test('killing one instance mid-transfer loses only its connections; the other\'s complete byte-exact', T, async () => {
    const cleanup = new Cleanup();
    try {
      const target = cleanup.add(await startHeldTarget());
      const fleet = await startFleet(cleanup, dir);
      target.hold();
      const transfers = [0, 1, 2, 3].map(() => curl(fleet.port, target));
      await until(() => target.served() === 4, 'four transfers in flight');
      const onA = started(fleet.a);
      assert.ok(onA >= 1 && onA <= 3 && onA + started(fleet.b) === 4, `${onA} on a`);
      process.kill(fleet.b.socx.pid, 'SIGKILL');
      await fleet.b.socx.exited();
      target.release();
      const results = await Promise.all(transfers);
      const complete = results.filter((r) => r.code === 0);
      assert.equal(complete.length, onA, results.map((r) => describeRun(r)).join('\n'));
      for (const r of complete) assertBody(r, 'a transfer through the surviving instance');
      // Cut short of the Content-Length (curl 18), before the headers arrived (52) or reset (56): never whole.
      for (const r of results.filter((x) => x.code !== 0)) assert.ok([18, 52, 56].includes(r.code ?? 0) && r.stdout.length < BODY.length, describeRun(r));
      // New connections go to the survivor.
      assertBody(await curl(fleet.port, target), 'after the kill');
    } finally {
      await cleanup.run();
    }
  });

  test('SIGTERM: /readyz turns 503, HAProxy takes the instance out, its transfer completes, it exits 0', T, async () => {
    const cleanup = new Cleanup();
    try {
      const target = cleanup.add(await startHeldTarget());
      const fleet = await startFleet(cleanup, dir);
      target.hold();
      const held = [curl(fleet.port, target), curl(fleet.port, target)];
      await until(() => target.served() === 2, 'two transfers in flight');
      assert.equal(started(fleet.a), 1);
      process.kill(fleet.a.socx.pid, 'SIGTERM');
      await waitForOutput(fleet.a.socx, /SIGTERM: no longer accepting; 1 open connection\(s\) have 20000 ms to finish/);
      await waitForOutput(fleet.haproxy, /Server socx\/a is DOWN, reason: Layer7 wrong status, code: 503/, 10_000);
      target.release();
      // While a drains, new connections all reach b.
      const before = started(fleet.b);
      for (let i = 0; i < 3; i++) assertBody(await curl(fleet.port, target), `new transfer ${i} during the drain`);
      assert.equal(started(fleet.b), before + 3);
      for (const r of await Promise.all(held)) assertBody(r, 'a transfer in flight at SIGTERM');
      await fleet.a.socx.exited();
      assert.equal(fleet.a.socx.exitCode(), 0, fleet.a.socx.output());
    } finally {
      await cleanup.run();
    }
  });
});
