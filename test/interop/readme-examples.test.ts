// README examples run as written, in dash (a POSIX shell, Debian's /bin/sh), not bash: the udp-send DNS query's
// printf gives the exact query bytes and the pipeline gets them through socx serve; the BIND "receive a file"
// recipe moves a file byte-exact with the receiver and sender lines copied from the README. Only the proxy
// address, the announced address and the file contents are swapped for local ones.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withTimeout } from '../helpers/net.ts';
import { requireBinary, run } from '../support/process.ts';
import { Cleanup, NO_PROXY_ENV, ROOT, socxBinary, startSocxServe, type SocxServer } from './socx.ts';

const T = { timeout: 60_000 };
const README = path.join(ROOT, 'README.md');
const DNS_QUERY = Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001', 'hex');

/** The README line that starts (after indentation and an optional "$ ") with `prefix`, with any trailing
 * comment and line continuation joined. */
async function readmeLine(prefix: string): Promise<string> {
  const lines = (await readFile(README, 'utf8')).split('\n');
  const at = lines.findIndex((line) => line.trim().replace(/^\$ /, '').startsWith(prefix));
  assert.ok(at >= 0, `README has no line starting with ${prefix}`);
  let text = lines[at]!.trim().replace(/^\$ /, '');
  for (let next = at + 1; text.endsWith('\\'); next++) text = `${text.slice(0, -1)} ${lines[next]!.trim()}`;
  return text;
}

/** `dash -c SCRIPT` in `cwd` with dist/ (where the socx executable is) first on PATH. */
function dash(script: string, cwd: string) {
  const env = { ...process.env, ...NO_PROXY_ENV, PATH: `${path.dirname(socxBinary())}:${process.env.PATH ?? ''}` };
  return spawn(requireBinary('dash'), ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('README examples in dash', () => {
  const cleanup = new Cleanup();
  let serve: SocxServer;
  let dir: string;

  before(async () => {
    serve = cleanup.add(await startSocxServe(['-q']));
    dir = await mkdtemp(path.join(os.tmpdir(), 'socx-readme-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await cleanup.run();
  });

  test("udp-send's DNS example: printf gives the query's exact bytes, and the pipeline carries them", T, async () => {
    const pipeline = await readmeLine("printf '\\022");
    const printf = pipeline.slice(0, pipeline.indexOf('|')).trim();
    const alone = await run(requireBinary('dash'), ['-c', printf], { timeoutMs: 10_000 });
    assert.deepEqual(alone.stdout, DNS_QUERY, `dash printed ${alone.stdout.toString('hex')}`);

    const resolver = dgram.createSocket('udp4');
    resolver.on('message', (msg, from) => resolver.send(Buffer.concat([msg.subarray(0, 2), Buffer.from('answer')]), from.port, from.address));
    await new Promise<void>((resolve) => resolver.bind(0, '127.0.0.1', resolve));
    try {
      const local = pipeline
        .replace('socks5h://127.0.0.1:1080', `socks5h://${serve.authority}`)
        .replace('127.0.0.53 53', `127.0.0.1 ${resolver.address().port}`);
      assert.notEqual(local, pipeline, 'the example names the proxy and the resolver as expected');
      const child = dash(local, dir);
      const out: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      const code = await withTimeout(new Promise<number | null>((resolve) => child.once('close', resolve)), 20_000, 'the pipeline');
      assert.equal(code, 0);
      assert.equal(Buffer.concat(out).toString(), `${Buffer.concat([DNS_QUERY.subarray(0, 2), Buffer.from('answer')]).toString('hex')}\n`);
    } finally {
      resolver.close();
    }
  });

  test('the BIND recipe: its receiver and sender lines move a file byte-exact', T, async () => {
    const receiverLine = await readmeLine('socx bind -x socks5h://proxy.example:1080 0.0.0.0 0 <');
    const senderLine = await readmeLine('socx connect -x socks5h://proxy.example:1080 203.0.113.7 40123');
    const proxy = (line: string) => line.replace('socks5h://proxy.example:1080', `socks5h://${serve.authority}`);
    const receiverDir = await mkdtemp(path.join(dir, 'receiver-'));
    const senderDir = await mkdtemp(path.join(dir, 'sender-'));
    const file = randomBytes(2 * 1024 * 1024);
    await writeFile(path.join(senderDir, 'backup.tar'), file);

    const receiver = dash(proxy(receiverLine), receiverDir);
    try {
      let stderr = '';
      receiver.stderr.setEncoding('utf8');
      const exited = new Promise<number | null>((resolve) => receiver.once('close', resolve));
      const bound = await withTimeout(new Promise<RegExpExecArray>((resolve, reject) => {
        receiver.stderr.on('data', (text: string) => {
          stderr += text;
          const match = /bound (\S+):(\d+)/.exec(stderr);
          if (match) resolve(match);
        });
        void exited.then(() => reject(new Error(`the receiver exited: ${stderr}`)));
      }), 10_000, 'the bound line');
      const sender = await run(requireBinary('dash'), ['-c', proxy(senderLine).replace('203.0.113.7 40123', `${bound[1]} ${bound[2]}`)], {
        cwd: senderDir, timeoutMs: 20_000, env: { ...NO_PROXY_ENV, PATH: `${path.dirname(socxBinary())}:${process.env.PATH ?? ''}` },
      });
      assert.equal(sender.code, 0, sender.stderr);
      assert.equal(await withTimeout(exited, 20_000, 'the receiver to exit'), 0, stderr);
      const received = await readFile(path.join(receiverDir, 'backup.tar'));
      assert.equal(received.length, file.length);
      assert.ok(received.equals(file));
    } finally {
      if (receiver.exitCode === null && receiver.pid !== undefined) process.kill(receiver.pid, 'SIGKILL');
    }
  });
});
