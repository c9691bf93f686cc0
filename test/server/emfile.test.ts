// Out of file descriptors: dist/socx serve under `ulimit -n 64` with its caps off logs EMFILE (once, rate
// limited), keeps its listener, and serves again as soon as descriptors come back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { Collector, connectTo, hex, sleep } from '../helpers/net.ts';
import { greet } from '../helpers/socks.ts';

const SOCX = path.resolve(import.meta.dirname, '../../dist/socx');

test('EMFILE: logged once, the server keeps accepting once descriptors are free again', { timeout: 60_000 }, async () => {
  const child = spawn('bash', ['-c', `ulimit -n 64 && exec "${SOCX}" serve -l 127.0.0.1:0 --max-connections 0 --max-handshakes 1000`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  try {
    const deadline = Date.now() + 10_000;
    while (!/listening on 127\.0\.0\.1:(\d+)/.test(stderr)) {
      if (Date.now() > deadline) throw new Error(`no ready line: ${stderr}`);
      await sleep(20);
    }
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
    const held: Socket[] = [];
    for (let i = 0; i < 120; i++) {
      try {
        const socket = await connectTo('127.0.0.1', port);
        socket.on('error', () => {});
        held.push(socket);
      } catch {
        // the server closed it at once: out of descriptors
      }
    }
    const until = Date.now() + 5000;
    while (!/too many open files \(EMFILE\)/.test(stderr) && Date.now() < until) await sleep(20);
    assert.match(stderr, /cannot accept connections: too many open files \(EMFILE, (\d+|all) of 64 open\); new connections are closed until descriptors free up/);
    assert.equal(stderr.match(/EMFILE/g)?.length, 1, 'the warning is rate-limited');
    for (const socket of held) socket.destroy();
    // Service resumes: the next client is served.
    let served = false;
    for (let attempt = 0; attempt < 50 && !served; attempt++) {
      const c = new Collector(await connectTo('127.0.0.1', port));
      try {
        served = (await greet(c)).equals(hex('05 00'));
      } catch {
        await sleep(100);
      } finally {
        c.socket.destroy();
      }
    }
    assert.ok(served, 'no client was served after the descriptors came back');
    assert.equal(child.exitCode, null, 'the server is still running');
  } finally {
    child.kill('SIGKILL');
  }
});
