/** serve --metrics, --log-format json and --log-file on the built executable: byte counters that grow while a
 * 256 MiB relay runs, a real scrape through promtool's lint, /readyz during a drain, and the log file
 * reopened on SIGHUP after a logrotate-style rename. */
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { toAddress } from '../../lib/codec/address.ts';
import { startEcho, withTimeout, type EchoServer } from '../helpers/net.ts';
import { socxBinary, waitForOutput } from '../interop/socx.ts';
import { tempFiles } from '../ops/cli.ts';
import { startServe, type ServeProcess } from '../ops/serve-process.ts';
import { requireBinary, run } from '../support/process.ts';
import { startSinkServer } from '../support/peers.ts';

const T = { timeout: 60_000 };
const MiB = 2 ** 20;
const METRICS = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/;

async function metricsPort(serve: ServeProcess): Promise<number> {
  await waitForOutput(serve, METRICS, 5000);
  return Number(METRICS.exec(serve.output())?.[1]);
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

/** A sample's value from a scrape, e.g. sample(text, 'socx_relayed_bytes_total{direction="up"}'). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) assert.fail(`no ${series} in the scrape:\n${text}`);
  return Number(line.slice(series.length + 1));
}

function through(serve: ServeProcess, port: number): Promise<Socket> {
  return openSession('connect', toAddress('127.0.0.1', port), { proxy: parseProxyUrl(`socks5://127.0.0.1:${serve.port}`), timeoutMs: 10_000 }).then((s) => s.socket);
}

/** Writes `bytes` and resolves once the socket has taken all of them (backpressure respected). */
async function send(socket: Socket, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(MiB, 0x61);
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
  }
}

/** Scrapes until `ok(text)`, bounded. */
async function scrapeUntil(port: number, ok: (text: string) => boolean, what: string): Promise<string> {
  let last = '';
  for (let attempt = 0; attempt < 200; attempt++) {
    last = (await get(port, '/metrics')).body;
    if (ok(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`${what}; last scrape:\n${last}`);
}

describe('serve --metrics', () => {
  let sink: Awaited<ReturnType<typeof startSinkServer>>;
  let serve: ServeProcess;
  let port: number;
  before(async () => {
    socxBinary();
    sink = await startSinkServer();
    serve = await startServe(['-l', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--deny', 'port=9', '-q']);
    port = await metricsPort(serve);
  });
  after(async () => {
    await serve.stop();
    await sink.stop();
  });

  test('/metrics during a 256 MiB upload: the up counter grows while the relay runs', T, async () => {
    const socket = await through(serve, sink.port);
    const up = 'socx_relayed_bytes_total{direction="up"}';
    const before = sample((await get(port, '/metrics')).body, up);
    const seen: number[] = [];
    // In four steps of 64 MiB: after each, a scrape must show it while the connection is still open.
    for (let step = 1; step <= 4; step++) {
      await send(socket, 64 * MiB);
      const text = await scrapeUntil(port, (t) => sample(t, up) - before >= step * 64 * MiB - 4 * MiB, `${step * 64} MiB sent, not counted`);
      seen.push(sample(text, up) - before);
      assert.equal(sample(text, 'socx_connections_active'), 1);
    }
    assert.ok(seen.every((value, i) => i === 0 || value > (seen[i - 1] ?? 0)), `not growing: ${seen.join(', ')}`);
    socket.end();
    await withTimeout(new Promise((resolve) => socket.once('close', resolve)), 20_000, 'the relay to end');
    const done = await scrapeUntil(port, (t) => sample(t, 'socx_connections_total{outcome="ok"}') >= 1, 'the relay not counted as ended');
    assert.equal(sample(done, up) - before, 256 * MiB);
    assert.equal(sink.received(), 256 * MiB);
    assert.equal(sample(done, 'socx_connections_active'), 0);
  });

  test('a real scrape passes promtool check metrics without a lint warning', T, async () => {
    const promtool = requireBinary('promtool', 'prometheus');
    // Something in most series first: a refused rule, and a relayed connection.
    await through(serve, 9).then((s) => s.destroy(), () => {});
    const text = await scrapeUntil(port, (t) => sample(t, 'socx_rule_refusals_total{rule="deny port=9"}') >= 1, 'no rule refusal counted');
    for (const name of ['socx_connections_accepted_total', 'socx_handshakes_total{version="5",method="none"}', 'socx_connections_total{outcome="refused-rule"}', 'socx_handshake_duration_seconds_count', 'socx_process_cpu_seconds_total']) {
      assert.ok(sample(text, name) >= (name.startsWith('socx_process') ? 0 : 1), name);
    }
    assert.ok(!/^socx_nodejs_active_\w+_total /m.test(text), 'the gauges that fail the lint are dropped');
    assert.ok(!/[{,](client|target|ip)=|\d+\.\d+\.\d+\.\d+/.test(text.split('\n').filter((l) => !l.startsWith('#')).join('\n')), 'no address in a label');
    const lint = await run(promtool, ['check', 'metrics'], { input: Buffer.from(text), timeoutMs: 20_000 });
    assert.equal(lint.code, 0, `${lint.stdout.toString()}${lint.stderr}`);
    assert.equal(`${lint.stdout.toString()}${lint.stderr}`, '');
  });

  test('/healthz, /readyz, an unknown path, a POST', T, async () => {
    assert.deepEqual(await get(port, '/healthz'), { status: 200, body: 'ok\n' });
    assert.deepEqual(await get(port, '/readyz'), { status: 200, body: 'ready\n' });
    assert.equal((await get(port, '/nope')).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status, 405);
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    await response.text();
  });
});

describe('/readyz during a drain', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(() => echo.close());

  test('SIGTERM with a connection open and --grace: /readyz answers 503 (and /healthz 200) until the process exits 0', T, async () => {
    const serve = await startServe(['-l', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--grace', '30s']);
    try {
      const port = await metricsPort(serve);
      const socket = await through(serve, echo.port);
      assert.equal((await get(port, '/readyz')).status, 200);
      await serve.signal('SIGTERM', /SIGTERM: no longer accepting; 1 open connection\(s\) have 30000 ms/);
      assert.deepEqual(await get(port, '/readyz'), { status: 503, body: 'draining\n' });
      assert.equal((await get(port, '/healthz')).status, 200);
      socket.end();
      await withTimeout(new Promise((resolve) => serve.child.once('exit', resolve)), 20_000, 'socx to exit after the last connection');
      assert.equal(serve.child.exitCode, 0);
    } finally {
      await serve.stop();
    }
  });
});

describe('serve --log-format json --log-file', () => {
  const files = tempFiles();
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(() => {
    echo.close();
    files.remove();
  });

  /** A CONNECT that ends cleanly, so that one line is written. */
  async function oneConnection(serve: ServeProcess): Promise<void> {
    const socket = await through(serve, echo.port);
    socket.end();
    socket.resume();
    await withTimeout(new Promise((resolve) => socket.once('close', resolve)), 10_000, 'the connection to close');
  }

  async function lines(path: string, count: number): Promise<Array<Record<string, unknown>>> {
    let text = '';
    for (let attempt = 0; attempt < 200; attempt++) {
      text = readFileSync(path, 'utf8');
      if (text.split('\n').length - 1 >= count) return text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.fail(`${path} has no ${count} lines:\n${text}`);
  }

  test('lines go to the file (not stderr); after a rename, SIGHUP reopens the path', T, async () => {
    const log = files.path('socx.log');
    const config = files.write('socx.yaml', `log-format: json\nlog-file: ${log}\n`);
    const serve = await startServe(['-l', '127.0.0.1:0', '--config', config]);
    try {
      await serve.started();
      await oneConnection(serve);
      const [first] = await lines(log, 1);
      assert.equal(first?.outcome, 'ok');
      assert.equal(first?.target, `127.0.0.1:${echo.port}`);
      assert.equal(first?.listener, `127.0.0.1:${serve.port}`);
      renameSync(log, `${log}.1`);
      await oneConnection(serve);
      assert.equal((await lines(`${log}.1`, 2)).length, 2);
      await serve.signal('SIGHUP', /SIGHUP: settings reloaded/);
      await oneConnection(serve);
      const [reopened] = await lines(log, 1);
      assert.equal(reopened?.outcome, 'ok');
      assert.equal(readFileSync(`${log}.1`, 'utf8').trimEnd().split('\n').length, 2);
      assert.ok(!/"outcome"|socks5 connect/.test(serve.output()), `a connection line on stderr:\n${serve.output()}`);
    } finally {
      await serve.stop();
    }
  });

  test('a log file that cannot be opened: one line, exit 2, at start', T, async () => {
    const r = await run(socxBinary(), ['serve', '-l', '127.0.0.1:0', '--log-file', files.path('missing/dir/socx.log')], { timeoutMs: 20_000 });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `socx: --log-file: cannot open ${files.path('missing/dir/socx.log')}: no such file\n`);
  });

  test('bad --log-format and --metrics values: one line, exit 2', T, async () => {
    for (const [args, message] of [
      [['--log-format', 'xml'], 'socx: --log-format must be text or json, not "xml"\n'],
      [['--metrics', 'localhost'], 'socx: bad --metrics "localhost": give a port too, as 127.0.0.1:9464\n'],
      [['--metrics', 'example.com:9464'], /^socx: bad --metrics "example\.com:9464": "example\.com" is not an IP address/],
    ] as const) {
      const r = await run(socxBinary(), ['serve', '-l', '127.0.0.1:0', ...args], { timeoutMs: 20_000 });
      assert.equal(r.code, 2, r.stderr);
      if (typeof message === 'string') assert.equal(r.stderr, message);
      else assert.match(r.stderr, message);
    }
  });
});
