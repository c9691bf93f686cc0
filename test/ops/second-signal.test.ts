/** Signals during the grace, on the built executable. A second SIGTERM or SIGINT, alone and with --workers:
 * the relays still open are reset (as at the grace's end, so no client takes the cut for a clean end), their
 * log lines are written, and serve exits 0. A SIGHUP (logrotate's) reopens the log file and kills nothing. */
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { toAddress } from '../../lib/codec/address.ts';
import { startEcho, withTimeout, type EchoServer } from '../helpers/net.ts';
import { tempFiles } from './cli.ts';
import { startServe, type ServeProcess } from './serve-process.ts';

let echo: EchoServer;
const files = tempFiles();

before(async () => { echo = await startEcho(); });
after(async () => {
  await echo.close();
  files.remove();
});

/** How a relay through the proxy ended: 'reset', or 'end' (a FIN, which reads as a complete transfer). */
function ending(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNRESET' ? 'reset' : error.code ?? 'error'));
    socket.once('end', () => resolve('end'));
  });
}

/** A relay through `serve` to the echo server, reading: how it ends, and how serve exits. */
async function openRelay(serve: ServeProcess): Promise<{ ended: Promise<string>; exited: Promise<unknown[]> }> {
  const session = await openSession('connect', toAddress('127.0.0.1', echo.port), { proxy: parseProxyUrl(`socks5h://127.0.0.1:${serve.port}`), timeoutMs: 10_000 });
  session.socket.resume();
  return { ended: ending(session.socket), exited: once(serve.child, 'exit') };
}

for (const [signal, workers] of [['SIGTERM', []], ['SIGINT', []], ['SIGTERM', ['--workers', '2']]] as const) {
  test(`${signal} twice${workers.length ? ' with --workers 2' : ''}: the open relay is reset at once, logged, exit 0`, { timeout: 30_000 }, async () => {
    const log = files.path(`${signal}${workers.length}.log`);
    const serve = await startServe(['-l', '127.0.0.1:0', '--grace', '60s', '--log-file', log, ...workers]);
    try {
      const { ended, exited } = await openRelay(serve);
      await serve.signal(signal, /no longer accepting; .* have 60000 ms to finish/);
      await serve.signal(signal, new RegExp(`second ${signal}: resetting the open connections now`));
      const [code, exitSignal] = await withTimeout(exited, 10_000, 'serve to exit, not the 60 s grace');
      assert.deepEqual([code, exitSignal], [0, null]);
      assert.equal(await ended, 'reset');
      assert.match(readFileSync(log, 'utf8'), new RegExp(`^\\S+ 127\\.0\\.0\\.1:\\d+ socks5 connect 127\\.0\\.0\\.1:${echo.port} ok, ended: aborted up=0B down=0B \\S+\\n$`));
    } finally {
      await serve.stop();
    }
  });
}

for (const workers of [[], ['--workers', '2']]) {
  test(`SIGHUP during the grace${workers.length ? ' with --workers 2' : ''}: serve goes on draining, into the reopened log file`, { timeout: 30_000 }, async () => {
    const log = files.path(`hup${workers.length}.log`);
    const serve = await startServe(['-l', '127.0.0.1:0', '--grace', '60s', '--log-file', log, ...workers]);
    try {
      const { ended, exited } = await openRelay(serve);
      await serve.signal('SIGTERM', /no longer accepting; .* have 60000 ms to finish/);
      renameSync(log, `${log}.1`);
      await serve.signal('SIGHUP', /SIGHUP: settings reloaded/);
      assert.equal(serve.child.exitCode, null, 'still draining');
      await serve.signal('SIGTERM', /second SIGTERM: resetting the open connections now/);
      assert.deepEqual(await withTimeout(exited, 10_000, 'serve to exit'), [0, null]);
      assert.equal(await ended, 'reset');
      assert.equal(readFileSync(`${log}.1`, 'utf8'), '');
      assert.match(readFileSync(log, 'utf8'), new RegExp(`^\\S+ 127\\.0\\.0\\.1:\\d+ socks5 connect 127\\.0\\.0\\.1:${echo.port} ok, ended: aborted `));
    } finally {
      await serve.stop();
    }
  });
}
