/** Passwords not in clear (issue 12, item 4): scrypt entries mixed with plain ones, the authenticator the
 * server calls, hash-password, the users-file permission warning, SOCX_AUTH, --auth hidden from ps, and
 * empty passwords refused everywhere. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { hashPassword, parseCredential, parseScryptHash, parseUsers, ScryptHash, UsersFileError, usersAuthenticator, usersFileNameProblem, type Authenticate } from '../../lib/server/auth.ts';
import { ROOT, socxSource, tempFiles } from './cli.ts';
import { startEcho } from '../helpers/net.ts';
import { login, startServe } from './serve-process.ts';

const files = tempFiles();
after(() => files.remove());
const CLIENT = { host: '127.0.0.1', port: 1 };
const check = (authenticate: Authenticate, user: string, password: string): Promise<boolean> =>
  new Promise((resolve) => authenticate(user, password, CLIENT, resolve));

describe('users file', () => {
  test('comments, blank lines, CRLF, colons in passwords, hashed entries beside plain ones', async () => {
    const hash = String(await hashPassword('s3cret'));
    const users = parseUsers(['# users for socx', '', 'alice:wonderland', '   ', '  # indented comment', 'bob:pa:ss:word', 'carol:hash#not-a-comment\r', `dave:${hash}`].join('\n'));
    assert.deepEqual([...users.keys()], ['alice', 'bob', 'carol', 'dave']);
    assert.equal(users.get('bob'), 'pa:ss:word');
    assert.equal(users.get('carol'), 'hash#not-a-comment');
    assert.ok(users.get('dave') instanceof ScryptHash);
    assert.equal(String(users.get('dave')), hash);
  });

  test('bad lines name their line number: no colon, empty user, empty password, long fields, a broken hash', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['alice:x\nnocolon', 2, /expected user:password/],
      ['# c\n\n:pass', 3, /empty user name/],
      ['alice:x\ndave:', 2, /empty password \(RFC 1929 needs 1-255 bytes\)/],
      [`u:${'p'.repeat(256)}`, 1, /password longer than 255 bytes/],
      [`${'u'.repeat(256)}:p`, 1, /user name longer than 255 bytes/],
      ['eve:$scrypt$ln=15,r=8,p=1$short$x', 1, /malformed \$scrypt\$ hash/],
      ['eve:$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1, /malformed/],
    ];
    for (const [text, line, message] of cases) {
      assert.throws(() => parseUsers(text), (error: unknown) => error instanceof UsersFileError && error.line === line && message.test(error.message), text);
    }
  });

  test('credentials are 1-255 bytes each (RFC 1929)', () => {
    assert.deepEqual(parseCredential(`${'u'.repeat(255)}:${'p'.repeat(255)}`), { username: 'u'.repeat(255), password: 'p'.repeat(255) });
    for (const text of [`${'u'.repeat(256)}:p`, `u:${'é'.repeat(128)}`, 'u:', ':p', 'nocolon']) assert.equal(parseCredential(text), undefined, text);
  });

  test('a hash round-trips through its text form; its parameters are bounded', async () => {
    const hash = await hashPassword('x');
    assert.match(String(hash), /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.equal(String(parseScryptHash(String(hash))), String(hash));
    assert.equal(parseScryptHash('$scrypt$ln=20,r=32,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), undefined, '4 GiB of memory');
  });

  test('a user name is fit for a users file exactly when its line reads back as that user', () => {
    const readsBack = (name: string): boolean => {
      try {
        const users = parseUsers(`${name}:x`);
        return users.size === 1 && users.get(name) === 'x';
      } catch (error) {
        if (error instanceof UsersFileError) return false;
        throw error;
      }
    };
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', ':', '#', ' ', '\t', '\n', '\r', '\ufeff'), maxLength: 6 }), (name) => {
      assert.equal(usersFileNameProblem(name) === undefined, readsBack(name), JSON.stringify(name));
    }), { numRuns: 2000 });
    for (const name of ['alice', ' bob', 'a#b', 'a\rb', 'é'.repeat(127)]) assert.equal(usersFileNameProblem(name), undefined, name);
  });
});

describe('usersAuthenticator', () => {
  test('plain entries: only the exact password of a known user', async () => {
    const auth = usersAuthenticator(parseUsers('alice:wonderland\nbob:pa:ss'));
    assert.equal(await check(auth, 'alice', 'wonderland'), true);
    assert.equal(await check(auth, 'bob', 'pa:ss'), true);
    for (const [user, password] of [['alice', 'Wonderland'], ['alice', 'wonderland '], ['alice', 'wonder'], ['alice', ''], ['mallory', 'wonderland'], ['mallory', '\0unknown user']]) {
      assert.equal(await check(auth, user!, password!), false, `${user}/${password}`);
    }
    assert.equal(await check(usersAuthenticator(new Map()), 'alice', 'wonderland'), false);
  });

  test('hashed entries: verified with scrypt, a wrong password refused, a repeat served from the cache', async () => {
    const stored = await hashPassword('s3cret');
    const auth = usersAuthenticator(new Map([['dave', stored]]));
    assert.equal(await check(auth, 'dave', 'wrong'), false);
    const first = performance.now();
    assert.equal(await check(auth, 'dave', 's3cret'), true);
    const scryptMs = performance.now() - first;
    // The cache answers synchronously: done() has run before authenticate returns.
    let answered: boolean | undefined;
    auth('dave', 's3cret', CLIENT, (ok) => { answered = ok; });
    assert.equal(answered, true, 'a verified password is answered from the cache, without scrypt');
    auth('dave', 'wrong', CLIENT, (ok) => { answered = ok; });
    assert.equal(answered, true, 'a wrong password is not answered synchronously (it goes to scrypt)');
    assert.ok(scryptMs > 0);
  });
});

describe('hash-password', () => {
  test('from stdin: a user:hash line that the server accepts; the password is in neither argv nor output', async () => {
    const r = socxSource(['hash-password', 'alice'], { input: 'open sesame\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^alice:\$scrypt\$ln=15,r=8,p=1\$\S+\n$/);
    assert.ok(!r.stdout.includes('open sesame'));
    const users = parseUsers(r.stdout);
    assert.equal(await check(usersAuthenticator(users), 'alice', 'open sesame'), true);
    assert.equal(await check(usersAuthenticator(users), 'alice', 'open sesame\n'), false, 'the line ending is not part of it');
  });

  test('a user name that a users file cannot hold is a usage error, before any password is read', () => {
    const cases: Array<[string, string]> = [
      ['al:ice', '":" ends the user name there (user:password)'],
      ['#bob', 'a line that starts with "#" (after any spaces) is a comment'],
      ['  #bob', 'a line that starts with "#" (after any spaces) is a comment'],
      ['a\nb', 'it holds a line break, and the file has one user a line'],
      ['', 'empty user name (RFC 1929 needs 1-255 bytes)'],
    ];
    for (const [user, why] of cases) {
      const r = socxSource(['hash-password', user], { input: 'secret\n' });
      assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', `socx: user name "${user.replace('\n', '\\x0a')}" cannot go in a users file: ${why}\n`], JSON.stringify(user));
    }
  });

  test('an empty password is refused (exit 2)', () => {
    for (const input of ['', '\n', '\r\n']) {
      const r = socxSource(['hash-password'], { input });
      assert.equal(r.code, 2, JSON.stringify(input));
      assert.equal(r.stderr, 'socx: cannot hash: empty password (RFC 1929 needs 1-255 bytes)\n');
    }
  });
});

describe('serve: where users come from', () => {
  test('empty passwords are refused in --auth, SOCX_AUTH and the config, each naming its source', () => {
    const auth = socxSource(['serve', '--check-config', '--auth', 'alice:']);
    assert.deepEqual([auth.code, auth.stderr], [2, 'socx: --auth must be user:password, each 1-255 bytes (RFC 1929)\n']);
    const env = socxSource(['serve', '--check-config'], { env: { SOCX_AUTH: 'alice:' } });
    assert.deepEqual([env.code, env.stderr], [2, 'socx: SOCX_AUTH must be user:password, each 1-255 bytes (RFC 1929)\n']);
    const config = files.write('empty.yaml', 'users:\n  alice: ""\n');
    const file = socxSource(['serve', '--check-config', '--config', config]);
    assert.deepEqual([file.code, file.stderr], [2, `socx: config file ${config}, line 2: users: alice: empty password (RFC 1929 needs 1-255 bytes)\n`]);
  });

  test('a users file with no users in it, and no other users, is an error, not a server without logins', () => {
    const empty = files.write('no-users.txt', '# nobody yet\n\n');
    const r = socxSource(['serve', '--check-config', '--users', empty]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', `socx: users file ${empty} has no users, and no other users are given (one user:password a line; socx hash-password makes hashed ones)\n`]);
    assert.equal(socxSource(['serve', '--check-config', '--users', empty, '--auth', 'bob:pw']).code, 0);
  });

  test('an empty SOCX_AUTH is unset, as an empty proxy variable is: no user, no error', () => {
    const unset = socxSource(['serve', '--check-config']);
    const empty = socxSource(['serve', '--check-config'], { env: { SOCX_AUTH: '' } });
    assert.equal(empty.code, 0, empty.stderr);
    assert.deepEqual(empty, unset);
  });

  test('a users file readable by group or others gets a warning; mode 600 does not', () => {
    const shared = files.write('shared-users.txt', 'alice:x\n', 0o644);
    const warned = socxSource(['serve', '--check-config', '--users', shared]);
    assert.equal(warned.code, 0);
    assert.equal(warned.stderr, `socx: warning: users file ${shared} is readable by group or others (mode 644): chmod 600 ${shared}\n`);
    const own = files.write('own-users.txt', 'alice:x\n', 0o600);
    assert.equal(socxSource(['serve', '--check-config', '--users', own]).stderr, '');
  });

  test('--auth is wiped from the process\'s visible argv (Linux); SOCX_AUTH logs in', { timeout: 30_000 }, async () => {
    const echo = await startEcho();
    const server = await startServe(['-l', '127.0.0.1:0', '--auth', 'alice:argv-secret-42'], { SOCX_AUTH: 'bob:env-secret' });
    try {
      const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      assert.ok(!cmdline.includes('argv-secret-42'), cmdline);
      assert.match(cmdline, /--auth alice:\*\*\*/);
      assert.equal(await login(server.port, 'alice:argv-secret-42', echo), 'ok');
      assert.equal(await login(server.port, 'bob:env-secret', echo), 'ok');
      assert.equal(await login(server.port, 'bob:wrong', echo), 'auth-failed');
    } finally {
      await server.stop();
      await echo.close();
    }
  });

  test('serve with a users file mixing hashed and plain entries', { timeout: 30_000 }, async () => {
    const hashed = socxSource(['hash-password', 'dave'], { input: 'dave-pw\n' }).stdout;
    const usersFile = files.write('mixed.txt', `carol:carol-pw\n${hashed}`);
    const echo = await startEcho();
    const server = await startServe(['-l', '127.0.0.1:0', '--users', usersFile]);
    try {
      assert.equal(await login(server.port, 'dave:dave-pw', echo), 'ok');
      assert.equal(await login(server.port, 'dave:dave-pw', echo), 'ok', 'again, from the cache');
      assert.equal(await login(server.port, 'carol:carol-pw', echo), 'ok');
      assert.equal(await login(server.port, 'dave:carol-pw', echo), 'auth-failed');
      assert.equal(await login(server.port, `dave:${encodeURIComponent(hashed.trim().slice('dave:'.length))}`, echo), 'auth-failed', 'the hash is not a password');
    } finally {
      await server.stop();
      await echo.close();
    }
  });
});

test('hash-password on a terminal: asks twice, echoes nothing, refuses two different answers', { timeout: 30_000 }, () => {
  // python3's pty gives the command a real terminal; the transcript is everything the terminal showed.
  const script = `
import os, pty, sys, time
def run(answers):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.argv[1], [sys.argv[1], sys.argv[2], 'hash-password', 'bob'])
    out = b''
    for answer in answers:
        while b': ' not in out.split(b'\\n')[-1]:
            out += os.read(fd, 1024)
        os.write(fd, answer + b'\\r')
        out += os.read(fd, 1024)
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(repr((os.waitstatus_to_exitcode(status), out.decode())) + '\\n')
run([b'tty-secret-1', b'tty-secret-1'])
run([b'tty-secret-1', b'other'])
`;
  const r = spawnSync('python3', ['-c', script, process.execPath, path.join(ROOT, 'cmd', 'main.ts')], { encoding: 'utf8', timeout: 25_000 });
  assert.equal(r.status, 0, r.stderr);
  const [same, different] = r.stdout.trim().split('\n');
  assert.match(same ?? '', /^\(0, 'password: \\r\\nagain: \\r\\nbob:\$scrypt\$ln=15,r=8,p=1\$\S+\\r\\n'\)$/);
  assert.ok(!r.stdout.includes('tty-secret'), 'the password was echoed');
  assert.match(different ?? '', /^\(2, 'password: \\r\\nagain: \\r\\nsocx: the two passwords differ\\r\\n'\)$/);
});
