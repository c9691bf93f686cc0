/** `socx serve --upstream` on the built executable: the start lines, -v and the log name the route without
 * its credentials, --check-config masks them, bad settings are one line and exit 2, and the config file's
 * `upstream:` and `rules:` work and are reloaded on SIGHUP. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { toAddress } from '../../lib/codec/address.ts';
import { SocxError } from '../../lib/errors.ts';
import { startEcho, type EchoServer } from '../helpers/net.ts';
import { socxSource, tempFiles } from '../ops/cli.ts';
import { startServe, type ServeProcess } from '../ops/serve-process.ts';
import { waitForOutput } from '../interop/socx.ts';

const T = { timeout: 60_000 };
const SECRET = 'n0t-in-logs';

/** One CONNECT and an echo round trip through the server on `port`. */
async function echoThrough(port: number, echo: EchoServer): Promise<void> {
  const session = await openSession('connect', toAddress('127.0.0.1', echo.port), { proxy: parseProxyUrl(`socks5://127.0.0.1:${port}`), timeoutMs: 10_000 });
  session.socket.resume();
  await new Promise<void>((resolve, reject) => {
    session.socket.once('data', (chunk: Buffer) => (chunk.toString() === 'hi' ? resolve() : reject(new Error(`echo said ${chunk.toString()}`))));
    session.socket.write('hi');
  });
  session.socket.destroy();
}

describe('socx serve --upstream (the executable)', () => {
  const files = tempFiles();
  const started: ServeProcess[] = [];
  let echo: EchoServer;
  let upstream: ServeProcess;
  let other: ServeProcess;
  before(async () => {
    echo = await startEcho();
    upstream = await startServe(['-l', '127.0.0.1:0', '--auth', `up:${SECRET}`]);
    other = await startServe(['-l', '127.0.0.1:0']);
    started.push(upstream, other);
  });
  after(async () => {
    await Promise.all(started.map((proc) => proc.stop()));
    await echo.close();
    files.remove();
  });

  test('start lines and -v name the upstream without its password; so do the log lines, failed login included', T, async () => {
    const good = await startServe(['-l', '127.0.0.1:0', '-v', '--upstream', `socks5h://up:${SECRET}@127.0.0.1:${upstream.port}`]);
    const bad = await startServe(['-l', '127.0.0.1:0', '-v', '--upstream', `corp=socks5h://up:wrong-${SECRET}@127.0.0.1:${upstream.port}`, '--allow', 'any via=corp']);
    started.push(good, bad);
    await good.started();
    await bad.started();
    assert.match(good.output(), new RegExp(`upstream: socks5h://127\\.0\\.0\\.1:${upstream.port}\\n`));
    assert.match(bad.output(), new RegExp(`upstream ${'corp'}: socks5h://127\\.0\\.0\\.1:${upstream.port} \\(rules with via=corp\\)\\n`));
    await echoThrough(good.port, echo);
    await waitForOutput(good, /socks5 connect 127\.0\.0\.1:\d+ ok .*upstream=default/, 5000);
    await assert.rejects(echoThrough(bad.port, echo), (error: unknown) => error instanceof SocxError && error.reply?.code === 0x01);
    await waitForOutput(bad, /rejected the username\/password/, 5000);
    for (const proc of [good, bad]) assert.doesNotMatch(proc.output(), new RegExp(SECRET));
  });

  test('--check-config masks the upstreams\' passwords', T, async () => {
    const result = socxSource(['serve', '--check-config', '--upstream', `socks5h://up:${SECRET}@127.0.0.1:1`, '--upstream', `corp=http://u:${SECRET}2@127.0.0.1:2`, '--allow', 'to=*.corp via=corp']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /socks5h:\/\/up:\*\*\*@127\.0\.0\.1:1/);
    assert.match(result.stdout, /corp=http:\/\/u:\*\*\*@127\.0\.0\.1:2/);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(SECRET));
  });

  for (const [args, message] of [
    [['--allow', 'to=*.corp via=corp'], 'socx: a rule routes via=corp, but no --upstream corp=URL is given'],
    [['--upstream', `ftp://u:${SECRET}@h:1`], 'socx: --upstream: unsupported proxy scheme "ftp:" in ftp://u:***@h:1: use socks5h://, socks5://, socks4a://, socks4://, http:// or https://'],
    [['--deny', 'any via=direct'], 'socx: bad rule "deny any via=direct": via=direct: only allow rules choose a route'],
  ] as const) {
    test(`serve ${args.join(' ')}: exit 2, one line`, T, () => {
      const result = socxSource(['serve', '-l', '127.0.0.1:0', ...args]);
      assert.equal(result.code, 2);
      assert.equal(result.stderr, `${message}\n`);
    });
  }

  test('the config file: upstream: and rules: with via=; SIGHUP switches the upstream', T, async () => {
    const config = (port: number): string => [`upstream: socks5://127.0.0.1:${port}`, 'rules:', `  - allow to=127.0.0.1 port=${echo.port} cmd=connect`, ''].join('\n');
    const file = files.write('serve.yaml', config(upstream.port === 0 ? 1 : other.port));
    const serve = await startServe(['-l', '127.0.0.1:0', '--config', file]);
    started.push(serve);
    await serve.started();
    assert.match(serve.output(), new RegExp(`upstream: socks5://127\\.0\\.0\\.1:${other.port}\\n`));
    const seenBy = (proc: ServeProcess): number => proc.output().split('\n').filter((line) => line.includes(`127.0.0.1:${echo.port}`)).length;
    const before = seenBy(other);
    await echoThrough(serve.port, echo);
    await waitForOutput({ output: () => (seenBy(other) > before ? 'yes' : '') }, /yes/, 5000);

    const fresh = await startServe(['-l', '127.0.0.1:0']);
    started.push(fresh);
    files.write('serve.yaml', config(fresh.port));
    await serve.signal('SIGHUP', /reloaded/);
    await echoThrough(serve.port, echo);
    await waitForOutput({ output: () => (seenBy(fresh) > 0 ? 'yes' : '') }, /yes/, 5000);
  });
});
