/** SIGHUP and the settings that need a restart, on the built executable: a listener change is named on every
 * reload until the file matches what runs again, and a `workers:` edit neither applies nor divides the caps
 * of the processes that do run. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Collector, connectTo } from '../helpers/net.ts';
import { tempFiles } from './cli.ts';
import { startServe, type ServeProcess } from './serve-process.ts';

const files = tempFiles();
const started: ServeProcess[] = [];

after(async () => {
  for (const serve of started) await serve.stop();
  files.remove();
});

const RELOADED = 'socx: SIGHUP: settings reloaded (0 user(s)); open connections keep the settings they started with\n';
const RESTART = 'socx: SIGHUP: listener changes need a restart; still listening on the old addresses\n';

/** The lines the reload printed: those before the status screen that a SIGUSR1 sent after it prints. */
async function reload(serve: ServeProcess): Promise<string> {
  const from = serve.output().length;
  const count = (pattern: RegExp): number => (serve.output().match(pattern)?.length ?? 0) + 1;
  await serve.signal('SIGHUP', /SIGHUP: settings reloaded/g, count(/SIGHUP: settings reloaded/g));
  await serve.signal('SIGUSR1', /socx: status: up/g, count(/socx: status: up/g));
  const text = serve.output();
  return text.slice(from, text.indexOf('socx: status: up', from));
}

test('a listener change is named at each reload while it is pending, and not once the file is back', { timeout: 30_000 }, async () => {
  const config = (listen: string): string => files.write('listen.yaml', `listen: [${listen}]\n`);
  const serve = await startServe(['-q', '--config', config('127.0.0.1:0')]);
  started.push(serve);
  config('127.0.0.1:0, 127.0.0.1:1');
  assert.equal(await reload(serve), RELOADED + RESTART);
  assert.equal(await reload(serve), RELOADED + RESTART, 'still not applied');
  config('127.0.0.1:0');
  assert.equal(await reload(serve), RELOADED, 'the file matches the listeners again');
});

/** SOCKS5 greetings from one IP, held open: how many the server answers before it refuses one. */
async function answeredGreetings(port: number, tries: number): Promise<number> {
  const sockets: Collector[] = [];
  try {
    for (let i = 0; i < tries; i++) {
      // A refusal at accept may reset the connection before connect() reports it.
      const socket = await connectTo('127.0.0.1', port).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNRESET') return undefined;
        throw error;
      });
      if (!socket) return i;
      const c = new Collector(socket);
      sockets.push(c);
      c.socket.write(Buffer.from([0x05, 0x01, 0x00]));
      await c.until(() => c.length >= 2 || c.closed, 5000, 'a method reply or a close', false);
      if (c.length < 2) return i;
    }
    return tries;
  } finally {
    for (const c of sockets) c.socket.destroy();
  }
}

test('a workers: edit on SIGHUP does not divide the caps of the one process running', { timeout: 30_000 }, async () => {
  const config = (text: string): string => files.write('workers.yaml', `listen: [127.0.0.1:0]\nmax-connections-per-ip: 3\n${text}`);
  const serve = await startServe(['-q', '--config', config('')]);
  started.push(serve);
  assert.equal(await answeredGreetings(serve.port, 4), 3);
  await serve.statusUntil(/connections: 0 open/);
  config('workers: 3\n');
  await reload(serve);
  assert.equal(await answeredGreetings(serve.port, 4), 3, 'per-IP cap still 3, not ceil(3 / 3)');
});

test('--workers: a reload every worker refuses (a --log-file none can open) fails in one line, not "settings reloaded"', { timeout: 30_000 }, async () => {
  const config = (logFile: string): string => files.write('log.yaml', `listen: [127.0.0.1:0]\nlog-file: ${logFile}\n`);
  const serve = await startServe(['-q', '--workers', '2', '--config', config(files.path('access.log'))]);
  started.push(serve);
  const missing = files.path('no-such-dir/access.log');
  config(missing);
  const from = serve.output().length;
  await serve.signal('SIGHUP', /SIGHUP: reload failed/);
  await serve.signal('SIGUSR1', /socx: status: up/);
  const text = serve.output();
  assert.equal(text.slice(from, text.indexOf('socx: status: up', from)), `socx: SIGHUP: reload failed, keeping the old settings: --log-file: cannot open ${missing}: no such file\n`);
});
