/** One duration and size syntax for every command (issue 12, item 1): the parsers, and each command's
 * time options as the CLI takes them. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { SocxError } from '../../lib/errors.ts';
import { formatDuration, parseDuration, parseSize } from '../../lib/units.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const isUsage = (error: unknown): boolean => error instanceof SocxError && error.code === 'usage';

test('durations: units, bare numbers in the option\'s old unit, rounding', () => {
  const cases: Array<[string, 'ms' | 's', number]> = [
    ['500ms', 's', 500], ['10s', 'ms', 10_000], ['2m', 'ms', 120_000], ['1h', 's', 3_600_000], ['1.5s', 'ms', 1500],
    ['250', 'ms', 250], ['3', 's', 3000], ['0.25s', 's', 250], ['0', 's', 0], ['10S', 'ms', 10_000], [' 7ms ', 's', 7],
  ];
  for (const [text, bare, ms] of cases) assert.equal(parseDuration(text, 'x', bare), ms, text);
});

test('durations: bad forms and out-of-range values name the option and the accepted forms', () => {
  for (const bad of ['', 'abc', '-1', '1d', '10 s', '1e3', 's', '1.s']) {
    assert.throws(() => parseDuration(bad, 'wait', 's'), (error: unknown) => isUsage(error)
      && /^--wait must be a duration such as 500ms, 10s, 2m or 1h \(a bare number is seconds\), not "/.test((error as Error).message), bad);
  }
  assert.throws(() => parseDuration('60000', 'wait', 's', { min: 1000, max: 3_600_000 }), /^SocxError: --wait must be from 1s to 1h, not "60000"$/);
  assert.throws(() => parseDuration('0', 'timeout', 'ms', { min: 1, max: 1000 }), /--timeout must be from 1ms to 1s, not "0"/);
});

test('formatDuration gives the shortest exact form', () => {
  assert.deepEqual([0, 1, 999, 1000, 1500, 60_000, 90_000, 3_600_000].map(formatDuration), ['0ms', '1ms', '999ms', '1s', '1500ms', '1m', '90s', '1h']);
});

test('sizes: binary multiples, suffixes, bounds', () => {
  const cases: Array<[string, number]> = [['65536', 65536], ['64k', 65536], ['64K', 65536], ['256M', 256 * 2 ** 20], ['1GiB', 2 ** 30], ['1.5k', 1536], ['1MB', 2 ** 20], ['10b', 10]];
  for (const [text, bytes] of cases) assert.equal(parseSize(text, 'bytes'), bytes, text);
  for (const bad of ['', '0', '-1', 'k', '12q', '1T']) assert.throws(() => parseSize(bad, 'bytes'), isUsage, bad);
  assert.throws(() => parseSize('2M', 'message-size', { min: 1, max: 2 ** 20 }), /--message-size must be from 1 to 1M, not "2M"/);
});

function socx(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'cmd', 'main.ts'), ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('every time option of every command shows the one syntax in --help', () => {
  const expected: Record<string, string[]> = {
    serve: ['--handshake-timeout <duration, bare = ms>', '--connect-timeout <duration, bare = ms>', '--lookup-timeout <duration, bare = ms>', '--bind-timeout <duration, bare = s>', '--idle-timeout <duration, bare = s>', '--udp-idle-timeout <duration, bare = s>', '--keepalive <duration, bare = s>', '--grace <duration, bare = ms>'],
    connect: ['--timeout <duration, bare = ms>'],
    bind: ['--timeout <duration, bare = ms>', '--wait <duration, bare = s>'],
    'udp-send': ['--timeout <duration, bare = ms>', '--wait <duration, bare = ms>', '--interval <duration, bare = ms>'],
    probe: ['--timeout <duration, bare = ms>', '--handshake-deadline <duration, bare = ms>'],
    bench: ['--timeout <duration, bare = ms>', '--duration <duration, bare = s>', '--bytes <size>', '--message-size <size>'],
  };
  for (const [command, flags] of Object.entries(expected)) {
    const help = socx([command, '--help']).stdout;
    for (const flag of flags) assert.ok(help.includes(flag), `${command} --help lacks ${flag}`);
    // No time option is left with a bare <ms> or <s> placeholder.
    assert.doesNotMatch(help, /<(ms|s|time)>/, command);
  }
});

test('a bad duration is exit 2 with one line naming the option; an absurd BIND wait is refused', () => {
  const bad = socx(['udp-send', '--wait', '2x', '127.0.0.1', '9', 'x']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'socx: --wait must be a duration such as 500ms, 10s, 2m or 1h (a bare number is milliseconds), not "2x"\n');
  const absurd = socx(['bind', '--wait', '60000', '0.0.0.0', '0']);
  assert.equal(absurd.code, 2);
  assert.equal(absurd.stderr, 'socx: --wait must be from 1ms to 1h, not "60000"\n');
});

test('a bare millisecond value under 100 gets a warning that says how to write seconds', () => {
  // --check-config stops before listening, so this needs no port.
  const r = socx(['serve', '--handshake-timeout', '10', '--check-config']);
  assert.match(r.stderr, /^socx: warning: --handshake-timeout 10 is 10 ms; write 10s for seconds$/m);
});
