/** SIGHUP and the settings that need a restart, on the built executable: a listener change is named on every
 * reload until the file matches what runs again. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
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
