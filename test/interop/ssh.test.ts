// OpenSSH with the built `socx connect` as its ProxyCommand, through the built `socx serve`: a command's
// output, and 2 MiB each way (uploaded on stdin to a remote sha256sum; a file cat'ed back down).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startSshd, type SshdPeer } from '../support/peers.ts';
import { requireBinary, run } from '../support/process.ts';
import { Cleanup, describeRun, sha256, socxBinary, startSocxServe, waitForOutput, type SocxServer } from './socx.ts';

const T = { timeout: 40_000 };
const SIZE = 2 * 1024 * 1024;

describe('ssh with ProxyCommand socx connect through socx serve', () => {
  const cleanup = new Cleanup();
  let ssh: string;
  let sshd: SshdPeer;
  let serve: SocxServer;
  let args: (proxyUrl: string) => string[];
  let dir: string;

  before(async () => {
    ssh = requireBinary('ssh', 'openssh-client');
    const socx = socxBinary();
    sshd = cleanup.add(await startSshd());
    serve = cleanup.add(await startSocxServe());
    args = (proxyUrl) => sshd.sshArgs(`${socx} connect -x ${proxyUrl} %h %p`);
    dir = await mkdtemp(path.join(os.tmpdir(), 'socx-ssh-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await cleanup.run();
  });

  const socks5h = () => `socks5h://${serve.authority}`;

  test('runs a remote command: echo hello-through-socx', T, async () => {
    const r = await run(ssh, [...args(socks5h()), 'echo', 'hello-through-socx'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun(r, serve.output()));
    assert.equal(r.stdout.toString(), 'hello-through-socx\n');
    // The session really went through socx serve.
    await waitForOutput(serve, new RegExp(`\\n\\d{4}-\\S+Z \\S+ socks5 connect 127\\.0\\.0\\.1:${sshd.port} ok `));
  });

  test('uploads 2 MiB on stdin to a remote sha256sum', T, async () => {
    const data = randomBytes(SIZE);
    const r = await run(ssh, [...args(socks5h()), 'sha256sum'], { input: data, timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun(r, serve.output()));
    assert.equal(r.stdout.toString(), `${sha256(data)}  -\n`);
  });

  test('downloads a 2 MiB file with cat, over socks4://', T, async () => {
    const data = randomBytes(SIZE);
    const file = path.join(dir, 'download.bin');
    await writeFile(file, data);
    const r = await run(ssh, [...args(`socks4://${serve.authority}`), 'cat', file], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun(r, serve.output()));
    assert.equal(r.stdout.length, SIZE);
    assert.equal(sha256(r.stdout), sha256(data), 'download differs');
  });
});
