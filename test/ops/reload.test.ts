/** SIGHUP (issue 12, item 3), on the built executable: while a 1 GiB download runs through the server, a
 * reload adds a user and removes two (one of them the downloader's); the new user gets in, the removed ones
 * are refused, other settings (bind: false) apply to new connections, the running relay continues
 * byte-exact; a broken file is rejected in one line and the old settings stay; a listener change is named as
 * needing a restart. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { toAddress } from '../../lib/codec/address.ts';
import { SocxError } from '../../lib/errors.ts';
import { hashPassword } from '../../lib/server/auth.ts';
import { closeServer, listen, startEcho, withTimeout, type EchoServer } from '../helpers/net.ts';
import { tempFiles } from './cli.ts';
import { login, startServe, type ServeProcess } from './serve-process.ts';

const TOTAL = 2 ** 30;
/** Not a power of two, so a block lost, repeated or swapped changes the hash. */
const BLOCK = randomBytes(4 * 2 ** 20 + 13);

const files = tempFiles();
let echo: EchoServer;
let serve: ServeProcess;
let source: ReturnType<typeof createServer>;
const sourceSockets = new Set<Socket>();
let sent: Promise<string>;
let startSending!: (socket: Socket) => void;

before(async () => {
  echo = await startEcho();
  sent = new Promise<string>((resolve) => { startSending = (socket) => resolve(sendTotal(socket)); });
  // Awaited by the test; when the test fails first, the server's stop resets this socket.
  sent.catch(() => {});
  source = createServer((socket) => { sourceSockets.add(socket); startSending(socket); });
  await listen(source, '127.0.0.1');
});

after(async () => {
  await serve?.stop();
  await closeServer(source, sourceSockets);
  await echo.close();
  files.remove();
});

/** Writes TOTAL bytes of BLOCK repeated, honouring backpressure; resolves with their SHA-256. */
function sendTotal(socket: Socket): Promise<string> {
  const hash = createHash('sha256');
  let left = TOTAL;
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    const pump = (): void => {
      while (left > 0) {
        const chunk = left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left);
        left -= chunk.length;
        hash.update(chunk);
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      socket.end(() => resolve(hash.digest('hex')));
    };
    pump();
  });
}

test('SIGHUP during a 1 GiB relay: users change for new connections only; a bad file keeps the old settings', { timeout: 180_000 }, async () => {
  const alice = await hashPassword('alice-pw');
  const usersFile = files.write('users.txt', `alice:${alice}\ncarol:carol-pw\n`);
  const config = (text: string): string => files.write('socx.yaml', `listen: 127.0.0.1:0\nusers-file: ${usersFile}\n${text}`);
  config('');
  serve = await startServe(['--config', files.path('socx.yaml')]);
  const sourcePort = (source.address() as { port: number }).port;
  assert.equal(await login(serve.port, 'carol:carol-pw', echo), 'ok');
  assert.equal(await login(serve.port, 'bob:bob-pw', echo), 'auth-failed');

  // alice's download starts, then is held (the client stops reading) while the settings change.
  const session = await openSession('connect', toAddress('127.0.0.1', sourcePort), { proxy: parseProxyUrl(`socks5h://alice:alice-pw@127.0.0.1:${serve.port}`), timeoutMs: 10_000 });
  const received = createHash('sha256');
  let bytes = session.head.length;
  received.update(session.head);
  const ended = new Promise<void>((resolve, reject) => {
    session.socket.on('data', (chunk: Buffer) => { bytes += chunk.length; received.update(chunk); });
    session.socket.once('end', resolve);
    session.socket.once('error', reject);
  });
  session.socket.resume();
  await withTimeout(new Promise<void>((resolve) => {
    const check = (): void => { if (bytes >= 64 * 2 ** 20) { session.socket.pause(); session.socket.off('data', check); resolve(); } };
    session.socket.on('data', check);
  }), 30_000, '64 MiB of the download');

  // bob added (in the config), alice and carol removed (from the users file).
  files.write('users.txt', '# nobody here\n');
  config('users:\n  bob: "bob-pw"\nbind: false\n');
  await serve.signal('SIGHUP', /SIGHUP: settings reloaded \(1 user\(s\)\); open connections keep the settings they started with/);
  assert.equal(await login(serve.port, 'bob:bob-pw', echo), 'ok', 'added user');
  // Other settings are re-read too: BIND is now refused (0x07).
  const bind = openSession('bind', toAddress('0.0.0.0', 0), { proxy: parseProxyUrl(`socks5h://bob:bob-pw@127.0.0.1:${serve.port}`), timeoutMs: 10_000 });
  await assert.rejects(bind, (error: unknown) => error instanceof SocxError && error.code === 'request-rejected' && error.reply?.code === 0x07);
  assert.equal(await login(serve.port, 'alice:alice-pw', echo), 'auth-failed', 'removed (hashed) user');
  assert.equal(await login(serve.port, 'carol:carol-pw', echo), 'auth-failed', 'removed (plain) user');

  // A broken file: one line, and bob still gets in, alice still does not.
  const before = serve.output().length;
  config('users:\n  bob: [\n');
  await serve.signal('SIGHUP', /SIGHUP: reload failed, keeping the old settings: config file \S+socx\.yaml, line \d+: .+/);
  // Connection log lines may come in between; of the reload, one line and no trace.
  const since = serve.output().slice(before).split('\n');
  assert.equal(since.filter((line) => line.startsWith('socx:')).length, 1, `one line:\n${since.join('\n')}`);
  assert.ok(!since.some((line) => /^\s+at /.test(line)), 'no stack trace');
  assert.equal(await login(serve.port, 'bob:bob-pw', echo), 'ok', 'old settings kept');
  assert.equal(await login(serve.port, 'alice:alice-pw', echo), 'auth-failed');

  // A listener change is applied to nothing, and said so.
  files.write('socx.yaml', `listen: 127.0.0.1:1\nusers:\n  bob: "bob-pw"\nbind: false\n`);
  await serve.signal('SIGHUP', /SIGHUP: listener changes need a restart; still listening on the old addresses/);
  assert.equal(await login(serve.port, 'bob:bob-pw', echo), 'ok');

  // SIGUSR1 sees the held relay (and maybe a login connection the server has not yet seen close).
  await serve.signal('SIGUSR1', /connections: [1-9]\d* open: \d+ in handshake, [1-9]\d* past it/);

  session.socket.resume();
  await withTimeout(ended, 120_000, 'the rest of the download');
  assert.equal(bytes, TOTAL);
  assert.equal(received.digest('hex'), await sent, 'byte-exact after the reloads');
  session.socket.destroy();
});
