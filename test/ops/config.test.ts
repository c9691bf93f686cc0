/** The serve config file (issue 12, item 2): every flag is a key, flags override the file, errors name their
 * line, --check-config prints the effective settings with secrets masked and exits 0 or 2. */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { parseServeOptions } from '../../cmd/serve.ts';
import { configToRaw } from '../../cmd/serve-config.ts';
import { ConfigFileError, parseYamlTree } from '../../lib/config/yaml-tree.ts';
import { serveCommand, socxSource, tempFiles } from './cli.ts';
import { EXAMPLE } from './example-config.ts';

const files = tempFiles();
after(() => files.remove());


function raw(text: string): Record<string, unknown> {
  return configToRaw(parseYamlTree(text), serveCommand());
}

function lineError(text: string): { line: number; message: string } {
  try {
    raw(text);
  } catch (error) {
    assert.ok(error instanceof ConfigFileError, String(error));
    return { line: error.line, message: error.message };
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

describe('config keys', () => {
  test('every serve flag but --config, --check-config, --users, --allow and --deny is a key, spelt as the flag; negated flags as key: false', () => {
    const command = serveCommand();
    const skip = new Set(['config', 'checkConfig', 'users', 'help', 'allow', 'deny']);
    let checked = 0;
    for (const option of command.options) {
      if (skip.has(option.name)) continue;
      const long = /--(?:no-)?([a-z0-9-]+)/.exec(option.rawName)?.[1] ?? '';
      const value = option.isBoolean ? (option.negated ? 'false' : 'true') : '"x"';
      assert.deepEqual(raw(`${long}: ${value}`), { [option.name]: option.isBoolean ? !option.negated : 'x' }, option.rawName);
      checked++;
    }
    assert.ok(checked >= 18, `only ${checked} flags checked`);
  });

  test('file-only keys: users-file, users, rules, listeners', () => {
    assert.deepEqual(raw('users-file: /etc/socx/users\nusers: {a: "x"}\nrules: ["deny to=private", "allow  port=443 "]\nlisteners: [127.0.0.1:0, {address: "[::1]:0"}]\n'), {
      users: '/etc/socx/users', inlineUsers: { a: 'x' }, rules: ['deny to=private', 'allow  port=443'], listen: ['127.0.0.1:0', '[::1]:0'],
    });
    assert.deepEqual(raw(''), {});
    assert.deepEqual(raw('# only a comment\n'), {});
    assert.deepEqual(raw('listen: [1080, "127.0.0.1:0"]\nauth: ["u:p"]'), { listen: [1080, '127.0.0.1:0'], auth: ['u:p'] });
  });
});

describe('config errors name their line', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['an unknown key', 'listen: 1080\n\nmax-conections: 5\n', 3, /^unknown key "max-conections"$/],
    ['a near miss of a key', 'handshake_timeout: 5s\n', 1, /unknown key "handshake_timeout" \(did you mean "handshake-timeout"\?\)/],
    ['a duplicate key', 'grace: 1s\nquiet: true\ngrace: 2s\n', 3, /Map keys must be unique/],
    ['bad YAML', 'listen: [1080\nquiet: true\n', 2, /./],
    ['a flag value that is a map', 'quiet: true\ngrace: {a: 1}\n', 2, /"grace" needs a value/],
    ['a boolean flag with a string', 'verbose: yes\n', 1, /"verbose" must be true or false/],
    ['an unquoted numeric password', 'users:\n  alice: "ok"\n  bob: 0123\n', 3, /password of "bob" must be a string: put it in quotes/],
    ['a rule without allow/deny', 'rules:\n  - deny to=private\n  - permit port=22\n', 3, /each rule is "allow RULE" or "deny RULE"/],
    ['per-listener auth that is not a boolean', 'listeners:\n  - 127.0.0.1:0\n  - address: 0.0.0.0:1080\n    auth: none\n', 4, /"auth" is true or false/],
    ['a per-listener setting other than auth', 'listeners:\n  - address: 127.0.0.1:0\n    grace: 1s\n', 3, /per-listener "grace" is not supported yet/],
    ['listen and listeners', 'listen: 1080\nlisteners: [1081]\n', 2, /either "listen:" or "listeners:"/],
    ['--config inside a config', 'config: other.yaml\n', 1, /"config" is not a config key/],
    ['allow as a key', 'allow: to=loopback\n', 1, /policy rules go in "rules:"/],
    ['deny as a key', 'quiet: true\ndeny: private\n', 2, /^"deny" is not a config key: policy rules go in "rules:"/],
    ['users as a file name', 'users: /etc/socx/users\n', 1, /"users" is a map of user: password/],
    ['not a map', '- 1080\n', 1, /a config file is a map/],
    ['an alias', 'a: &x 1\nquiet: *x\n', 2, /aliases/],
  ];
  for (const [what, text, line, message] of cases) {
    test(what, () => {
      const error = lineError(text);
      assert.equal(error.line, line, error.message);
      assert.match(error.message, message);
    });
  }

  test('through the CLI: exit 2, one line naming the file and the line', () => {
    const config = files.write('bad.yaml', 'quiet: true\nlisten: 1080\nmax-conections: 5\n');
    const r = socxSource(['serve', '--config', config, '--check-config']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `socx: config file ${config}, line 3: unknown key "max-conections"\n`);
    assert.equal(r.stdout, '');
  });

  test('a missing file, a directory: plain words', () => {
    const missing = socxSource(['serve', '--config', files.path('nope.yaml'), '--check-config']);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `socx: cannot read config file ${files.path('nope.yaml')}: no such file\n`);
    const directory = socxSource(['serve', '--config', files.dir, '--check-config']);
    assert.equal(directory.stderr, `socx: cannot read config file ${files.dir}: is a directory\n`);
    const usersDir = socxSource(['serve', '--users', files.dir, '--check-config']);
    assert.equal(usersDir.stderr, `socx: cannot read users file ${files.dir}: is a directory\n`);
  });
});

describe('--check-config', () => {
  test('the README example: exit 0, the effective settings as YAML, no password in the output', () => {
    const users = files.write('users.txt', '# team\ncarol:plain secret\ndave:$scrypt$ln=15,r=8,p=1$4AEmfCoNmPo0iw5hkJuRgQ$0cOVfYnI4RVqXQgKI/ml89omq+b0C16tjrxIT9MVlxg\n');
    const config = files.write('example.yaml', EXAMPLE.replace('USERS', users));
    const r = socxSource(['serve', '--config', config, '--check-config', '--auth', 'erin:argv-secret'], { env: { SOCX_AUTH: 'frank:env-secret' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const shown = parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(shown.listen, ['0.0.0.0:1080', '[::1]:1080']);
    assert.equal(shown['handshake-timeout'], '10s');
    assert.equal(shown['idle-timeout'], '15m');
    assert.equal(shown.bind, false);
    assert.equal(shown['max-udp-associations'], 8);
    assert.equal(shown.grace, '30s');
    assert.equal(shown['connect-timeout'], '5s');
    assert.equal(shown['users-file'], users);
    assert.deepEqual(shown.auth, ['erin:***']);
    assert.deepEqual(shown.users, { carol: '*** (plain)', dave: '*** (scrypt)', alice: '*** (scrypt)', bob: '*** (plain)', frank: '*** (plain)', erin: '*** (plain)' });
    for (const secret of ['plain secret', 'correct horse', 'argv-secret', 'env-secret', '0cOVfYnI4RVqXQ']) assert.ok(!r.stdout.includes(secret), secret);
  });

  test('flags override the file; defaults fill the rest; a file value beats a default', () => {
    const config = files.write('override.yaml', 'listen: 127.0.0.1:1081\nhandshake-timeout: 5s\nconnect-timeout: 3s\nudp: false\n');
    const r = socxSource(['serve', '--config', config, '--check-config', '-l', '127.0.0.1:0', '--handshake-timeout', '7s']);
    assert.equal(r.code, 0, r.stderr);
    const shown = parse(r.stdout) as Record<string, unknown>;
    assert.equal(shown.listen, '127.0.0.1:0');
    assert.equal(shown['handshake-timeout'], '7s');
    assert.equal(shown['connect-timeout'], '3s');
    assert.equal(shown.udp, false);
    assert.equal(shown['bind-timeout'], '1m', 'default');
    assert.equal(shown.socks4, true, 'default of a negated flag');
  });

  test('"http: false" in the file is --no-http; the HTTP proxy is on by default', () => {
    const off = files.write('no-http.yaml', 'http: false\n');
    const shown = parse(socxSource(['serve', '--config', off, '--check-config']).stdout) as Record<string, unknown>;
    assert.equal(shown.http, false);
    assert.equal(parseServeOptions(configToRaw(parseYamlTree('http: false\n'), serveCommand())).config.http, false);
    assert.equal(parseServeOptions({}).config.http, true);
    assert.equal((parse(socxSource(['serve', '--check-config']).stdout) as Record<string, unknown>).http, true);
  });

  test('a relative users-file is found beside the config file, not in the working directory', () => {
    files.write('team-users.txt', 'carol:x\n');
    const config = files.write('relative.yaml', 'users-file: team-users.txt\n');
    const r = socxSource(['serve', '--config', config, '--check-config']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((parse(r.stdout) as Record<string, unknown>)['users-file'], files.path('team-users.txt'));
  });

  test('a bad value in the file is exit 2 naming the setting and its line', () => {
    const config = files.write('badvalue.yaml', 'quiet: true\nhandshake-timeout: soon\n');
    const r = socxSource(['serve', '--config', config, '--check-config']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `socx: config file ${config}, line 2: --handshake-timeout must be a duration such as 500ms, 10s, 2m or 1h (a bare number is milliseconds), not "soon"\n`);
    const users = files.write('badusers.yaml', '# team\nusers-file: missing-users.txt\n');
    assert.equal(socxSource(['serve', '--config', users, '--check-config']).stderr, `socx: config file ${users}, line 2: cannot read users file ${files.path('missing-users.txt')}: no such file\n`);
    // Overridden on the command line, the bad value is not used, and a bad flag is not blamed on the file.
    assert.equal(socxSource(['serve', '--config', config, '--check-config', '--handshake-timeout', '5s']).code, 0);
    assert.equal(socxSource(['serve', '--config', config, '--check-config', '--handshake-timeout', 'x']).stderr, 'socx: --handshake-timeout must be a duration such as 500ms, 10s, 2m or 1h (a bare number is milliseconds), not "x"\n');
  });

  test('the open-proxy refusal points at the listen line', () => {
    const config = files.write('open.yaml', 'listen: 0.0.0.0:1080\n');
    const r = socxSource(['serve', '--config', config, '--check-config']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^socx: config file .*, line 1: refusing to run an open proxy on 0\.0\.0\.0:1080/);
  });

  test('without --config, it checks the flags alone', () => {
    assert.equal(socxSource(['serve', '--check-config', '-l', '0.0.0.0:1080']).code, 2, 'open proxy refused');
    const ok = socxSource(['serve', '--check-config', '-l', '0.0.0.0:1080', '--allow-open-proxy']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('rules from the file are parsed with the command line\'s (a bad one is exit 2 with its line); the effective settings list them', () => {
    const good = files.write('rules.yaml', 'rules:\n  - deny to=private\n  - allow port=443\n');
    const ok = socxSource(['serve', '--config', good, '--check-config']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /deny to=private/);
    const bad = files.write('bad-rules.yaml', 'rules:\n  - deny port=99999\n');
    const r = socxSource(['serve', '--config', bad, '--check-config']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^socx: config file .*bad-rules\.yaml, line 2: bad rule "deny port=99999": port=99999: expected a port \(0-65535\) or a range N-M\n$/);
  });
});
