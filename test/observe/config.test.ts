/** The monitoring settings from the config file: the same keys as the flags. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { socxSource, tempFiles } from '../ops/cli.ts';

const files = tempFiles();
after(() => files.remove());

test('log-format, log-file and metrics from --config, shown by --check-config', () => {
  const log = files.path('access.log');
  const config = files.write('socx.yaml', `log-format: json\nlog-file: ${log}\nmetrics: 127.0.0.1:9464\n`);
  const r = socxSource(['serve', '--config', config, '--check-config']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^log-format: json$/m);
  assert.match(r.stdout, new RegExp(`^log-file: ${log.replace(/[.]/g, '\\.')}$`, 'm'));
  assert.match(r.stdout, /^metrics: 127\.0\.0\.1:9464$/m);
});

test('a bad value in the file names its line', () => {
  const config = files.write('bad.yaml', 'listen: 127.0.0.1:0\nlog-format: xml\n');
  const r = socxSource(['serve', '--config', config, '--check-config']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `socx: config file ${config}, line 2: --log-format must be text or json, not "xml"\n`);
});
