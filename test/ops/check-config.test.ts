/** --check-config prints the settings serve runs with, read by the same code (rules from the flags and the
 * file in their order, each listener's own settings, every default with its unit), and fails where a real
 * start fails before it listens (a --log-file that cannot be opened). */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { defaultServerConfig } from '../../lib/server/server.ts';
import { socxSource, tempFiles } from './cli.ts';
import { startServe } from './serve-process.ts';

const files = tempFiles();
after(() => files.remove());

const check = (...args: string[]): ReturnType<typeof socxSource> => socxSource(['serve', ...args, '--check-config']);

/** The block of `key:` in check-config's YAML: its line and the indented lines under it. */
function block(stdout: string, key: string): string {
  const match = new RegExp(`^${key}:.*\\n(?: .*\\n)*`, 'm').exec(stdout);
  assert.ok(match, `no ${key}: in\n${stdout}`);
  return match[0];
}

describe('--check-config shows what serve runs with', () => {
  test('with no settings: every default, durations with their unit, the connection caps from the fd limit', () => {
    const r = check();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, [
      'listen: 127.0.0.1:1080',
      'allow-open-proxy: false',
      'socks4: true',
      'http: true',
      'handshake-timeout: 10s',
      'connect-timeout: 10s',
      'bind: true',
      'bind-timeout: 1m',
      'idle-timeout: 0',
      'udp: true',
      'udp-idle-timeout: 2m',
      'max-udp-associations: 32',
      'proxy-protocol: false',
      `max-connections: ${defaultServerConfig.maxConnections}`,
      'max-connections-per-ip: 0',
      `max-handshakes: ${defaultServerConfig.maxPendingHandshakes}`,
      'max-binds-per-ip: 16',
      'keepalive: 1m',
      'rules: []',
      'lookup-timeout: 5s',
      'grace: 5s',
      'workers: 1',
      'log-format: text',
      'quiet: false',
      'verbose: false',
      '',
    ].join('\n'));
  });

  test('bare numbers are shown in the unit they stand for', () => {
    const r = check('--handshake-timeout', '10', '--bind-timeout', '30', '--idle-timeout', '90', '--grace', '1500');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^handshake-timeout: 10ms\n/m);
    assert.match(r.stdout, /^bind-timeout: 30s\n/m);
    assert.match(r.stdout, /^idle-timeout: 90s\n/m);
    assert.match(r.stdout, /^grace: 1500ms\n/m);
  });

  test('max-handshakes follows max-connections; with workers the caps are the totals that give each worker its part', () => {
    assert.match(check('--max-connections', '100').stdout, /^max-connections: 100\nmax-connections-per-ip: 0\nmax-handshakes: 25\n/m);
    // 10 connections over 2 workers: 5 each, so 1 handshake each.
    assert.match(check('--max-connections', '10', '--workers', '2').stdout, /^max-connections: 10\nmax-connections-per-ip: 0\nmax-handshakes: 2\n/m);
    assert.match(check('--max-handshakes', '7').stdout, new RegExp(`^max-connections: ${defaultServerConfig.maxConnections}\\nmax-connections-per-ip: 0\\nmax-handshakes: 7\\n`, 'm'));
  });

  test('the rules from --allow and --deny, in their order', () => {
    const r = check('--deny', 'private', '--allow', 'port=80');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(block(r.stdout, 'rules'), 'rules:\n  - deny private\n  - allow port=80\n');
  });

  test('the command line\'s rules, then the file\'s: the list a real start enforces', { timeout: 30_000 }, async () => {
    const config = files.write('rules.yaml', 'rules: ["deny private"]\n');
    const r = check('--config', config, '--allow', 'port=80');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(block(r.stdout, 'rules'), 'rules:\n  - allow port=80\n  - deny private\n');
    const server = await startServe(['-l', '127.0.0.1:0', '--config', config, '--allow', 'port=80']);
    try {
      await server.started();
      assert.deepEqual(server.output().match(/rule \d+: .*/g), ['rule 1: allow port=80', 'rule 2: deny private']);
    } finally {
      await server.stop();
    }
  });

  test('listeners with settings of their own are shown with them', () => {
    const config = files.write('listeners.yaml', [
      'users:',
      '  alice: "s3cret"',
      'proxy-protocol-from: [10.0.0.0/8]',
      'listeners:',
      '  - address: 127.0.0.1:1081',
      '    auth: false',
      '  - "[::1]:1082"',
      '  - address: 127.0.0.1:1083',
      '    proxy-protocol: true',
      '',
    ].join('\n'));
    const r = check('--config', config);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(block(r.stdout, 'listeners'), 'listeners:\n  - address: 127.0.0.1:1081\n    auth: false\n  - "[::1]:1082"\n  - address: 127.0.0.1:1083\n    proxy-protocol: true\n');
    assert.doesNotMatch(r.stdout, /^listen:/m);
  });

  test('the output is a config file that gives the same settings (passwords stay masked)', () => {
    const config = files.write('full.yaml', [
      'listeners:',
      '  - address: 127.0.0.1:1081',
      '    auth: false',
      '  - "[::1]:1082"',
      'users:',
      '  alice: "s3cret"',
      'auth: ["bob:hunter2"]',
      'egress: [127.0.0.1]',
      'advertise: 127.0.0.1',
      'udp-ports: 40000-40099',
      'upstream: ["socks5h://up:pw@127.0.0.1:1", "corp=http://127.0.0.1:2"]',
      'rules: ["allow to=*.corp via=corp", "deny private"]',
      'handshake-timeout: 1500ms',
      'bind-timeout: 30',
      'idle-timeout: 15m',
      'max-connections: 10',
      'workers: 2',
      `log-file: ${files.path('access.log')}`,
      'log-format: json',
      'metrics: 9464',
      '',
    ].join('\n'));
    const first = check('--config', config);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, [
      'listeners:',
      '  - address: 127.0.0.1:1081',
      '    auth: false',
      '  - "[::1]:1082"',
      'auth:',
      '  - bob:***',
      'users:',
      '  alice: "*** (plain)"',
      '  bob: "*** (plain)"',
      'allow-open-proxy: false',
      'socks4: true',
      'http: true',
      'egress:',
      '  - 127.0.0.1',
      'advertise: 127.0.0.1',
      'handshake-timeout: 1500ms',
      'connect-timeout: 10s',
      'bind: true',
      'bind-timeout: 30s',
      'idle-timeout: 15m',
      'udp: true',
      'udp-ports: 40000-40099',
      'udp-idle-timeout: 2m',
      'max-udp-associations: 32',
      'proxy-protocol: false',
      'max-connections: 10',
      'max-connections-per-ip: 0',
      'max-handshakes: 2',
      'max-binds-per-ip: 16',
      'keepalive: 1m',
      'rules:',
      '  - allow to=*.corp via=corp',
      '  - deny private',
      'upstream:',
      '  - socks5h://up:***@127.0.0.1:1',
      '  - corp=http://127.0.0.1:2',
      'lookup-timeout: 5s',
      'grace: 5s',
      'workers: 2',
      'log-format: json',
      `log-file: ${files.path('access.log')}`,
      'metrics: 127.0.0.1:9464',
      'quiet: false',
      'verbose: false',
      '',
    ].join('\n'));
    const again = check('--config', files.write('again.yaml', first.stdout));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, first.stdout);
  });
});

describe('--check-config opens the --log-file as serve does', () => {
  const dir = files.path('logs');
  mkdirSync(dir);
  for (const [what, path, message] of [
    ['in a directory that does not exist', files.path('missing/access.log'), 'no such file'],
    ['a directory', dir, 'is a directory'],
  ] as const) {
    test(`${what}: exit 2 with the line a real start gives`, () => {
      const checked = check('-l', '127.0.0.1:0', '--log-file', path);
      const started = socxSource(['serve', '-l', '127.0.0.1:0', '--log-file', path]);
      const line = `socx: --log-file: cannot open ${path}: ${message}\n`;
      assert.deepEqual([checked.code, checked.stderr, checked.stdout], [2, line, '']);
      assert.deepEqual([started.code, started.stderr], [2, line]);
    });
  }

  test('from the config file too', () => {
    const config = files.write('log.yaml', `log-file: ${dir}\n`);
    const r = check('--config', config);
    assert.deepEqual([r.code, r.stderr], [2, `socx: --log-file: cannot open ${dir}: is a directory\n`]);
  });

  test('for appending: an existing log keeps its lines; a missing one is created empty', () => {
    const existing = files.path('logs/old.log');
    writeFileSync(existing, 'a line from before\n');
    assert.equal(check('--log-file', existing).code, 0);
    assert.equal(readFileSync(existing, 'utf8'), 'a line from before\n');
    const fresh = files.path('logs/new.log');
    assert.equal(check('--log-file', fresh).code, 0);
    assert.equal(readFileSync(fresh, 'utf8'), '');
  });
});

describe('config errors name the line of the entry at fault', () => {
  for (const [what, text, line, message] of [
    ['a bad rule, the second of a list', '# policy\nrules:\n  - deny private\n  - deny port=99999\n', 4, 'bad rule "deny port=99999": port=99999: expected a port (0-65535) or a range N-M'],
    ['an empty password, the second user', 'users:\n  alice: "ok"\n  eve: ""\n', 3, 'users: eve: empty password (RFC 1929 needs 1-255 bytes)'],
    ['a bad listen address in a list', 'listen:\n  - 127.0.0.1:0\n  - nonsense\n', 3, 'bad --listen "nonsense": "nonsense" is not an IP address (expected [host:]port with an IP address or localhost, e.g. 1080, 127.0.0.1:1080, 0.0.0.0:1080 or [::1]:0)'],
    ['a bad upstream in a chain', 'upstream:\n  - socks5h://127.0.0.1:1\n  - ftp://127.0.0.1:2\n', 3, '--upstream: unsupported proxy scheme "ftp:" in ftp://127.0.0.1:2: use socks5h://, socks5://, socks4a://, socks4://, http:// or https://'],
    ['a PROXY listener without proxy-protocol-from', 'listeners:\n  - 127.0.0.1:1081\n  - address: 127.0.0.1:1082\n    proxy-protocol: true\n', 3, '--proxy-protocol on 127.0.0.1:1082 needs --proxy-protocol-from CIDR (repeatable): the load balancers\' addresses, the only peers whose PROXY header is believed'],
    ['a map in a list', 'listen:\n  - 127.0.0.1:0\n  - {a: 1}\n', 3, '"listen" needs a value (a string or number, or a list of them)'],
    ['a list for a duration', 'quiet: true\nhandshake-timeout: [1]\n', 2, '"handshake-timeout" must be a duration, not a list'],
    ['a block list for a duration', 'grace:\n  - 1s\n', 2, '"grace" must be a duration, not a list'],
    ['a list for a number', 'max-connections: [1, 2]\n', 1, '"max-connections" must be a whole number, not a list'],
    ['a list for log-format', 'log-format: [json]\n', 1, '"log-format" must be text or json, not a list'],
  ] as const) {
    test(what, () => {
      const config = files.write('bad.yaml', text);
      const r = check('--config', config);
      assert.deepEqual([r.code, r.stderr, r.stdout], [2, `socx: config file ${config}, line ${line}: ${message}\n`, '']);
    });
  }

  test('a list on the command line is still "may be given only once"', () => {
    const r = check('--grace', '1s', '--grace', '2s');
    assert.deepEqual([r.code, r.stderr], [2, 'socx: --grace may be given only once\n']);
  });
});
