// The built executable on its own: dist/socx copied alone into an empty directory, run with an empty
// environment, must behave as the contract says (version, help, usage errors, serve's lifecycle).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { requireBinary, run, startProcess, type RunResult } from '../support/process.ts';
import { assertOneErrorLine, describeRun, ROOT, runSocx, socxBinary, startSocxServe } from './socx.ts';

const T = { timeout: 20_000 };
const ANSI = /\x1b\[/;

describe('dist/socx, alone in an empty directory with an empty environment', () => {
  let dir: string;
  let version: string;
  let envBin: string;

  before(async () => {
    envBin = requireBinary('env', 'coreutils');
    version = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    dir = await mkdtemp(path.join(os.tmpdir(), 'socx-binary-'));
    await copyFile(socxBinary(), path.join(dir, 'socx'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** `env -i ./socx ARGS` in the temp dir: no PATH, no HOME, no NODE_OPTIONS, nothing beside it. */
  const alone = (args: string[]): Promise<RunResult> => run(envBin, ['-i', './socx', ...args], { cwd: dir, timeoutMs: 10_000 });

  test('--version prints the package.json version and nothing on stderr (no experimental warning)', T, async () => {
    const r = await alone(['--version']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout.toString(), `${version}\n`);
    assert.equal(r.stderr, '');
  });

  test('--version after a command prints the version too, and does nothing else (serve starts no proxy)', T, async () => {
    for (const command of [['serve'], ['probe'], ['connect'], ['udp-send', '127.0.0.1', '7'], ['bench'], ['hash-password']]) {
      const r = await alone([...command, '--version']);
      assert.deepEqual([r.code, r.stdout.toString(), r.stderr], [0, `${version}\n`, ''], `${command.join(' ')} --version: ${describeRun(r)}`);
    }
  });

  test('--help lists serve and connect, on stdout, exit 0, no colour', T, async () => {
    const r = await alone(['--help']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stderr, '');
    const help = r.stdout.toString();
    assert.match(help, /^\s+serve\b/m);
    assert.match(help, /^\s+connect <host> <port>/m);
    assert.match(help, /--version/);
    assert.doesNotMatch(help, ANSI);
  });

  test('serve --help lists every option, with the defaults', T, async () => {
    const r = await alone(['serve', '--help']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stderr, '');
    const help = r.stdout.toString();
    const lines = help.split('\n');
    const optionLine = (flag: string): string => {
      const line = lines.find((l) => new RegExp(`^\\s+(-\\w, )?${flag}\\b`).test(l));
      assert.ok(line, `serve --help does not list ${flag}:\n${help}`);
      return line;
    };
    // Every option the contract names, and what its default must read.
    assert.match(optionLine('--listen'), /^\s+-l, --listen\b.*\(default: 127\.0\.0\.1:1080\)/);
    for (const flag of ['--auth', '--users', '--quiet', '--verbose']) optionLine(flag);
    assert.match(optionLine('--quiet'), /^\s+-q, --quiet/);
    assert.match(optionLine('--verbose'), /^\s+-v, --verbose/);
    // Options taking a value that has a default say so.
    for (const [flag, value] of [
      ['--handshake-timeout', '10s'],
      ['--connect-timeout', '10s'],
      ['--idle-timeout', '0'],
      ['--grace', '5s'],
    ] as const) {
      assert.match(optionLine(flag), new RegExp(`\\(default: ${value}\\)`), `${flag} default`);
    }
    assert.doesNotMatch(help, ANSI);
  });

  test('connect --help lists -x, -U and --timeout with its default', T, async () => {
    const r = await alone(['connect', '--help']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stderr, '');
    const help = r.stdout.toString();
    assert.match(help, /^\s+-x, --proxy <url>.*SOCX_PROXY.*ALL_PROXY/m);
    assert.match(help, /^\s+-U, --proxy-user <user:pass>/m);
    assert.match(help, /^\s+--timeout <duration, bare = ms>.*\(default: 20s\)/m);
    // cac leaves the global option out of a command's help; it works there, so it is listed, in the columns.
    const [, helpColumns, versionColumns] = /^(  -h, --help +)Display this message \n(  --version +)Print the version $/m.exec(help) ?? [];
    assert.ok(helpColumns && versionColumns?.length === helpColumns.length, help);
  });

  const usage: Array<[string, string[]]> = [
    ['connect with an unknown option', ['connect', '--bogus', '127.0.0.1', '80']],
    ['connect without arguments', ['connect']],
    ['an unknown command', ['frobnicate']],
    ['an unknown option before any command', ['--bogus']],
    ['-v before any command (--version has no short form)', ['-v']],
    ['-V before any command', ['-V']],
    ['an unknown option, then a command', ['--bogus', 'connect', '127.0.0.1', '80']],
    ['serve with an unknown option', ['serve', '--bogus']],
    ['serve with a bad listen address', ['serve', '-l', '127.0.0.1:99999']],
    ['serve with --auth lacking a password', ['serve', '-l', '127.0.0.1:0', '--auth', 'nopass']],
  ];
  for (const [name, args] of usage) {
    test(`${name}: exit 2, one line on stderr, nothing on stdout`, T, async () => {
      const r = await alone(args);
      assert.equal(r.code, 2, describeRun(r));
      assertOneErrorLine(r.stderr);
      assert.equal(r.stdout.length, 0, describeRun(r));
    });
  }

  test('an unknown option before any command is named as a command\'s would be', T, async () => {
    for (const [arg, line] of [['--bogus', 'unknown option `--bogus`'], ['-V', 'unknown option `-V`']] as const) {
      const r = await alone([arg]);
      assert.deepEqual([r.code, r.stdout.toString(), r.stderr], [2, '', `socx: ${line} (see socx --help)\n`]);
    }
  });

  test('serve refuses an open proxy on a non-loopback address without users: exit 2, before binding', T, async () => {
    const r = await alone(['serve', '-l', '0.0.0.0:0']);
    assert.equal(r.code, 2, describeRun(r));
    assertOneErrorLine(r.stderr);
    assert.match(r.stderr, /--auth|--allow-open-proxy/);
  });
});

describe('dist/socx serve lifecycle', () => {
  test('SIGTERM stops serve with exit 0', T, async () => {
    const serve = await startSocxServe(['-q']);
    try {
      assert.equal(serve.exitCode(), null);
    } finally {
      await serve.stop();
    }
    assert.equal(serve.exitCode(), 0, serve.output());
  });

  test('a port already in use: exit 1, one line naming the address', T, async () => {
    // Hold a port ourselves; nothing here depends on 1080 being free.
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = await runSocx(['serve', '-l', `127.0.0.1:${port}`], { timeoutMs: 10_000 });
      assert.equal(r.code, 1, describeRun(r));
      assertOneErrorLine(r.stderr);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}.*address already in use`));
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  test('several -l: one ready line per listener, each with its real port', T, async () => {
    const serve = await startProcess(socxBinary(), ['serve', '-q', '-l', '127.0.0.1:0', '-l', '[::1]:0'], {
      // Both ready lines, in whichever order they come.
      readyPattern: /^(?=[\s\S]*listening on 127\.0\.0\.1:\d+\n)(?=[\s\S]*listening on \[::1\]:\d+\n)/,
      readyStream: 'stderr',
      timeoutMs: 10_000,
    });
    try {
      const out = serve.output();
      const ports = [...out.matchAll(/listening on (?:127\.0\.0\.1|\[::1\]):(\d+)\n/g)].map((m) => Number(m[1]));
      assert.equal(ports.length, 2, out);
      for (const port of ports) assert.ok(port > 0 && port < 65536, out);
    } finally {
      await serve.stop();
    }
  });
});

describe('dist/socx.cjs (the bundle) behaves the same', () => {
  test('node dist/socx.cjs --version prints the same version', T, async () => {
    const [bundle, exe] = await Promise.all([
      run(process.execPath, [path.join(ROOT, 'dist', 'socx.cjs'), '--version'], { timeoutMs: 10_000 }),
      runSocx(['--version'], { timeoutMs: 10_000 }),
    ]);
    assert.equal(bundle.code, 0, describeRun(bundle));
    assert.equal(bundle.stdout.toString(), exe.stdout.toString());
    assert.equal(bundle.stderr, '');
  });
});
