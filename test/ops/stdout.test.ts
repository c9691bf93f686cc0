/** A write to stdout that fails (stdout on /dev/full, or a pipe whose reader has gone) is lost data: every
 * command says so in one line on stderr and exits 1, instead of Node's stack trace for an unhandled 'error'
 * event or a silent exit 0. dist/socx, the built executable, as users run it. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { SocksServer } from '../../lib/server/server.ts';
import { startEcho, type EchoServer } from '../helpers/net.ts';
import { socxBinary } from '../interop/socx.ts';
import { startUdpEchoServer, type Peer } from '../support/peers.ts';

const T = { timeout: 60_000 };
const FULL = 'socx: cannot write to stdout: no space left on device\n';

interface Outcome { code: number | null; stderr: string }

/** dist/socx ARGS with stdout on /dev/full, `input` on stdin. */
function runToFull(args: string[], input = ''): Promise<Outcome> {
  const full = openSync('/dev/full', 'w');
  const child = spawn(socxBinary(), args, { stdio: ['pipe', full, 'pipe'], env: { ...process.env, NO_COLOR: '1', SOCX_AUTH: undefined } });
  closeSync(full);
  const { stdin, stderr: errors } = child;
  if (!stdin || !errors) throw new Error('spawn gave no stdin or stderr pipe');
  let stderr = '';
  errors.setEncoding('utf8');
  errors.on('data', (text: string) => { stderr += text; });
  stdin.on('error', () => {});
  stdin.end(input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

describe('stdout on /dev/full: one line, exit 1', () => {
  let server: SocksServer;
  let proxy: string;
  let echo: EchoServer;
  let udpEcho: Peer;

  before(async () => {
    server = new SocksServer({});
    const [bound] = await server.listen([{ host: '127.0.0.1', port: 0 }]);
    proxy = `socks5h://127.0.0.1:${bound!.port}`;
    echo = await startEcho();
    udpEcho = await startUdpEchoServer();
  });
  after(async () => {
    await udpEcho.stop();
    await echo.close();
    await server.close(0);
  });

  const whole: Array<[string, () => string[], string?]> = [
    ['--version', () => ['--version']],
    ['--help', () => ['--help']],
    ['hash-password alice', () => ['hash-password', 'alice'], 'pw\n'],
    ['serve --check-config', () => ['serve', '--check-config']],
    ['probe --json', () => ['probe', '--json', proxy]],
    ['udp-send', () => ['udp-send', '-x', proxy, '--wait', '5s', '127.0.0.1', String(udpEcho.port), 'ping']],
  ];
  for (const [name, args, input] of whole) {
    test(`${name}: exactly "${FULL.trim()}"`, T, async () => {
      const r = await runToFull(args(), input);
      assert.deepEqual(r, { code: 1, stderr: FULL });
    });
  }

  test('connect: the same words, with what got through before', T, async () => {
    const r = await runToFull(['connect', '-x', proxy, '127.0.0.1', String(echo.port)], 'hello\n');
    assert.deepEqual(r, { code: 1, stderr: `socx: cannot write to stdout: no space left on device after 6 bytes sent and 6 received; the connection to 127.0.0.1:${echo.port} was closed\n` });
  });

  test('bench --json: the progress lines, then the one error line', T, async () => {
    const r = await runToFull(['bench', '--json', '-x', proxy, '--bytes', '64k', '--duration', '150ms', '--messages', '10', '--concurrency', '2', '--streams', '1', '--in-process-targets']);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split(/(?<=\n)/);
    assert.equal(lines.at(-1), FULL, r.stderr);
    for (const line of lines) assert.match(line, /^socx: /, r.stderr);
  });
});
