/** The --log-file writer when the disk fails: one line in words, and the server goes on. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogFile } from '../../lib/observe/log-file.ts';
import { withTimeout } from '../helpers/net.ts';

test('a full disk (/dev/full) is said once, in words: no space left on the device', async () => {
  const errors: string[] = [];
  let said!: () => void;
  const first = new Promise<void>((resolve) => { said = resolve; });
  const file = new LogFile('/dev/full', (message) => { errors.push(message); said(); });
  file.write('a line');
  await file.close();
  await withTimeout(first, 5000, 'the write error');
  assert.deepEqual(errors, ['--log-file /dev/full: no space left on the device; connection lines are lost until the next SIGHUP']);
});
