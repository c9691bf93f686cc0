/** The per-source budget of failed logins (lib/server/login-limit.ts): unit tests on a fake clock, then the
 * server as a guesser meets it over loopback, SOCKS5 (exact `01 01`) and HTTP (exact 407). */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { basicCredentials as basic } from '../../lib/codec/http-basic.ts';
import { formatJsonRecord } from '../../lib/observe/json-log.ts';
import { usersAuthenticator, type Authenticate } from '../../lib/server/auth.ts';
import { clientSource } from '../../lib/policy/ip-key.ts';
import { LOGIN_BURST, LOGIN_REFILL_MS, LoginLimiter, MAX_LOGIN_SOURCES, MAX_PENDING_LOGINS, type LoginClock, type LoginVerdict } from '../../lib/server/login-limit.ts';
import { errorResponse } from '../helpers/http.ts';
import { encodeUserPassRequest } from '../../lib/codec/socks5.ts';
import { hex, withTimeout } from '../helpers/net.ts';
import { authenticate, greet, startSocksServer } from '../helpers/socks.ts';

const T = { timeout: 20_000 };

/** Time moves only when the test says so; the delays before refusals run when their time comes. */
class FakeClock implements LoginClock {
  time = 0;
  #timers: { at: number; run: () => void }[] = [];
  now(): number {
    return this.time;
  }
  after(ms: number, run: () => void): void {
    this.#timers.push({ at: this.time + ms, run });
  }
  advance(ms: number): void {
    this.time += ms;
    this.#run((timer) => timer.at <= this.time);
  }
  /** Ends every delay now, without the time (and so the budget) moving on. */
  flushDelays(): void {
    this.#run(() => true);
  }
  #run(due: (timer: { at: number }) => boolean): void {
    const now = this.#timers.filter(due);
    this.#timers = this.#timers.filter((timer) => !due(timer));
    for (const timer of now) timer.run();
  }
}

/** A limiter on a fake clock, and logins against it whose password checks are counted. */
function harness() {
  const clock = new FakeClock();
  const limiter = new LoginLimiter({ clock });
  let checks = 0;
  /** One login with a check that answers at once; the verdict, its delay cut short. */
  const login = (ip: string, right: boolean): LoginVerdict => {
    let verdict: LoginVerdict | undefined;
    limiter.attempt(ip, (done) => { checks++; done(right); }, (v) => { verdict = v; });
    clock.flushDelays();
    assert.ok(verdict !== undefined, 'no verdict');
    return verdict;
  };
  return { clock, limiter, login, checks: () => checks };
}

describe('the failed-login budget, on a fake clock', () => {
  test(`${LOGIN_BURST} failures, then even the right password is refused unchecked; another source is not`, () => {
    const { login, checks } = harness();
    for (let i = 0; i < LOGIN_BURST; i++) assert.equal(login('198.51.100.7', false), 'failed');
    assert.equal(checks(), LOGIN_BURST);
    assert.equal(login('198.51.100.7', true), 'over-budget');
    assert.equal(login('198.51.100.7', false), 'over-budget');
    assert.equal(checks(), LOGIN_BURST, 'no password check once over budget');
    assert.equal(login('198.51.100.8', true), 'ok');
    assert.equal(login('198.51.100.8', false), 'failed');
  });

  test('workers share the budget: each checked failure is told (onFailure), and one told of counts as a failure here', () => {
    const { limiter, login, checks } = harness();
    const told: string[] = [];
    limiter.onFailure = (source) => told.push(source);
    assert.equal(login('198.51.100.7', true), 'ok');
    assert.equal(login('2001:db8:0:1::9', false), 'failed');
    assert.deepEqual(told, ['2001:db8:0:1::/64'], 'a success is not told; a failure is told as its source');
    for (let i = 0; i < LOGIN_BURST; i++) limiter.chargeFailure('198.51.100.7');
    assert.equal(login('198.51.100.7', true), 'over-budget');
    assert.equal(checks(), 2, 'failures elsewhere spend the budget here');
    assert.deepEqual(told, ['2001:db8:0:1::/64'], 'a refusal is not told, nor a failure that was told to us');
  });

  test(`the budget refills by one every ${LOGIN_REFILL_MS} ms, and whole after ${LOGIN_BURST} of those`, () => {
    const { clock, login } = harness();
    for (let i = 0; i < LOGIN_BURST; i++) login('198.51.100.7', false);
    clock.advance(LOGIN_REFILL_MS - 1);
    assert.equal(login('198.51.100.7', true), 'over-budget');
    clock.advance(1);
    assert.equal(login('198.51.100.7', true), 'ok', 'a success spends nothing');
    assert.equal(login('198.51.100.7', false), 'failed');
    assert.equal(login('198.51.100.7', false), 'over-budget');
    // Sustained guessing gets one check per refill.
    for (let i = 0; i < 10; i++) {
      clock.advance(LOGIN_REFILL_MS);
      assert.equal(login('198.51.100.7', false), 'failed');
      assert.equal(login('198.51.100.7', true), 'over-budget');
    }
    clock.advance(LOGIN_BURST * LOGIN_REFILL_MS);
    for (let i = 0; i < LOGIN_BURST; i++) assert.equal(login('198.51.100.7', false), 'failed');
    assert.equal(login('198.51.100.7', true), 'over-budget');
  });

  test('successes never spend the budget', () => {
    const { login } = harness();
    for (let i = 0; i < 1000; i++) assert.equal(login('198.51.100.7', true), 'ok');
    for (let i = 0; i < LOGIN_BURST; i++) assert.equal(login('198.51.100.7', false), 'failed');
    assert.equal(login('198.51.100.7', true), 'over-budget');
  });

  test('an IPv6 source is its /64: other addresses in it share the budget, the next /64 does not', () => {
    const { login } = harness();
    for (let i = 1; i <= LOGIN_BURST; i++) login(`2001:db8:1:2::${i}`, false);
    assert.equal(login('2001:db8:1:2:ffff:ffff:ffff:ffff', true), 'over-budget');
    assert.equal(login('2001:db8:1:3::1', true), 'ok');
    assert.equal(clientSource('2001:db8:1:2::7'), '2001:db8:1:2::/64');
    assert.equal(clientSource('::ffff:192.0.2.1'), '192.0.2.1', 'an IPv4-mapped address is its IPv4 address');
    assert.equal(clientSource('192.0.2.1'), '192.0.2.1');
  });

  test(`at most ${MAX_PENDING_LOGINS} logins under way per source: more are refused at once, unchecked`, () => {
    const clock = new FakeClock();
    const limiter = new LoginLimiter({ clock });
    const answers: ((ok: boolean) => void)[] = [];
    const verdicts: LoginVerdict[] = [];
    const slow = (done: (ok: boolean) => void): void => { answers.push(done); };
    for (let i = 0; i < MAX_PENDING_LOGINS; i++) limiter.attempt('198.51.100.7', slow, (v) => verdicts.push(v));
    limiter.attempt('198.51.100.7', slow, (v) => verdicts.push(v));
    assert.deepEqual(verdicts, ['too-many-pending']);
    assert.equal(answers.length, MAX_PENDING_LOGINS, 'the one over the cap was not checked');
    // Checks answered late all count: the budget is overdrawn, and paid back at the refill rate.
    for (const done of answers) done(false);
    clock.flushDelays();
    assert.equal(verdicts.filter((v) => v === 'failed').length, MAX_PENDING_LOGINS);
    const next = (): LoginVerdict | undefined => {
      let verdict: LoginVerdict | undefined;
      limiter.attempt('198.51.100.7', (done) => done(true), (v) => { verdict = v; });
      clock.flushDelays();
      return verdict;
    };
    // Overdrawn by MAX_PENDING_LOGINS - LOGIN_BURST, then one more refill to get a login through.
    clock.advance((MAX_PENDING_LOGINS - LOGIN_BURST + 0.5) * LOGIN_REFILL_MS);
    assert.equal(next(), 'over-budget', 'still paying back the overdraft');
    clock.advance(LOGIN_REFILL_MS / 2);
    assert.equal(next(), 'ok');
  });

  test(`the table of sources stays bounded (${MAX_LOGIN_SOURCES}): the least recently active is forgotten first`, () => {
    const { limiter, login } = harness();
    for (const ip of ['198.51.100.7', '198.51.100.9']) for (let i = 0; i < LOGIN_BURST; i++) login(ip, false);
    for (let i = 0; i < 3 * MAX_LOGIN_SOURCES; i++) {
      login(`10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`, false);
      // One guesser keeps coming back, so it stays among the recently active.
      if (i % 1000 === 0) assert.equal(login('198.51.100.7', true), 'over-budget');
      assert.ok(limiter.size <= MAX_LOGIN_SOURCES);
    }
    assert.equal(limiter.size, MAX_LOGIN_SOURCES);
    assert.equal(login('198.51.100.7', true), 'over-budget', 'the recently active guesser is remembered');
    assert.equal(login('198.51.100.9', true), 'ok', 'the one quiet since is forgotten (no time passed: no refill)');
  });

  test('a source with no failure for 10 minutes is forgotten, and a success with a late answer leaves nothing behind', () => {
    const { clock, limiter, login } = harness();
    login('198.51.100.7', false);
    assert.equal(limiter.size, 1);
    clock.advance(10 * 60_000);
    assert.equal(login('198.51.100.7', true), 'ok');
    assert.equal(limiter.size, 0);
    let later: ((ok: boolean) => void) | undefined;
    limiter.attempt('198.51.100.8', (done) => { later = done; }, () => {});
    assert.equal(limiter.size, 1, 'a check under way holds a slot');
    later?.(true);
    assert.equal(limiter.size, 0);
  });
});

describe('the server under a guessing burst from one address', () => {
  /** The users' check, counting its calls. */
  function counted(): { authenticate: Authenticate; calls: () => number } {
    const check = usersAuthenticator(new Map([['alice', 's3cret']]));
    let calls = 0;
    return { authenticate: (...args) => { calls++; check(...args); }, calls: () => calls };
  }

  /** Resolves once the server warns that `ip` is over budget: its failures are all charged. */
  function overBudget(warnings: string[], ip: string): Promise<void> {
    return withTimeout(new Promise<void>((resolve) => {
      const poll = (): void => { if (warnings.some((line) => line.startsWith(`${ip}: ${LOGIN_BURST} failed logins`))) resolve(); else setImmediate(poll); };
      poll();
    }), 5000, `the warning that ${ip} is over budget`);
  }

  test('SOCKS5: a burst of wrong passwords, then the right one → 01 01 and no check; another address logs in', T, async () => {
    const { authenticate: check, calls } = counted();
    const warnings: string[] = [];
    const server = await startSocksServer({ authenticate: check, onWarning: (line) => warnings.push(line) });
    try {
      const guesses = await Promise.all(Array.from({ length: LOGIN_BURST }, async () => {
        const c = await server.client('127.0.0.5');
        assert.deepEqual(await greet(c, [0x02]), hex('05 02'));
        return c;
      }));
      const answers = guesses.map((c) => authenticate(c, 'alice', 'wrong'));
      await overBudget(warnings, '127.0.0.5');
      const right = await server.client('127.0.0.5');
      await greet(right, [0x02]);
      assert.deepEqual(await authenticate(right, 'alice', 's3cret'), hex('01 01'));
      assert.deepEqual(await right.end(), Buffer.alloc(0), 'closed after 01 01');
      for (const answer of await Promise.all(answers)) assert.deepEqual(answer, hex('01 01'));
      assert.equal(calls(), LOGIN_BURST, 'the right password was refused without a check');
      const other = await server.client('127.0.0.6');
      await greet(other, [0x02]);
      assert.deepEqual(await authenticate(other, 'alice', 's3cret'), hex('01 00'));
      other.socket.destroy();
      const limited = server.records.filter((record) => record.limit === 'login-rate');
      assert.equal(limited.length, 1);
      const [record] = limited;
      assert.equal(record?.outcome, 'limit');
      assert.equal(record?.user, 'alice');
      assert.equal(record?.result, `login refused unchecked: more than ${LOGIN_BURST} failed logins, one more allowed every ${LOGIN_REFILL_MS / 1000} s, from 127.0.0.5 (login-rate)`);
      assert.match(formatJsonRecord(record!), /"outcome":"limit","reply":null,"rule":null,"limit":"login-rate"/);
      assert.equal(server.records.filter((r) => r.outcome === 'refused-auth').length, LOGIN_BURST);
      assert.equal(server.server.traffic().limitHits['login-rate'], 1);
    } finally {
      await server.close();
    }
  });

  test('HTTP proxy: the same budget; the right Basic credentials over it → 407, exact bytes', T, async () => {
    const { authenticate: check, calls } = counted();
    const warnings: string[] = [];
    const server = await startSocksServer({ authenticate: check, onWarning: (line) => warnings.push(line) });
    const connect = (password: string): string => `CONNECT 127.0.0.1:9 HTTP/1.1\r\nProxy-Authorization: ${basic('alice', password)}\r\n\r\n`;
    try {
      const guesses = await Promise.all(Array.from({ length: LOGIN_BURST }, () => server.client('127.0.0.7')));
      for (const c of guesses) c.socket.write(connect('wrong'));
      await overBudget(warnings, '127.0.0.7');
      const right = await server.client('127.0.0.7');
      right.socket.write(connect('s3cret'));
      const refused = errorResponse('407 Proxy Authentication Required', 'authentication failed', 'Proxy-Authenticate: Basic realm="socx"\r\n');
      assert.equal((await right.end(5000)).toString('latin1'), refused);
      for (const c of guesses) assert.equal((await c.end(5000)).toString('latin1'), refused);
      assert.equal(calls(), LOGIN_BURST);
      const record = server.records.find((r) => r.limit === 'login-rate');
      assert.equal(record?.outcome, 'limit');
      assert.equal(record?.httpStatus, 407);
    } finally {
      await server.close();
    }
  });
});

test('the handshake deadline passing while a password is checked: a complete 01 01 (HTTP: 408), then the close', T, async () => {
  const server = await startSocksServer({ authenticate: () => {}, handshakeTimeoutMs: 300 });
  try {
    const socks = await server.client();
    assert.deepEqual(await greet(socks, [0x02]), hex('0502'));
    socks.socket.write(encodeUserPassRequest({ username: 'alice', password: 'pw' }));
    assert.deepEqual(await withTimeout(socks.end(), 5000, 'the close'), hex('0101'));
    const record = await server.record(0);
    assert.deepEqual([record.outcome, record.result], ['timeout', 'the login was not decided within the handshake deadline']);
    const http = await server.client();
    http.socket.write(`CONNECT 127.0.0.1:9 HTTP/1.1\r\nProxy-Authorization: ${basic('alice', 'pw')}\r\n\r\n`);
    assert.match((await withTimeout(http.end(), 5000, 'the close')).toString('latin1'), /^HTTP\/1\.1 408 Request Timeout\r\n[^]*\r\n\r\n/);
    assert.equal((await server.record(1)).result, 'HTTP 408 (the login was not decided within the handshake deadline)');
  } finally {
    await server.close();
  }
});

test('a client that leaves while its password is checked is logged as leaving during auth, SOCKS5 and HTTP alike', T, async () => {
  let checking = (): void => {};
  const server = await startSocksServer({ authenticate: () => checking() });
  try {
    const socks = await server.client();
    await greet(socks, [0x02]);
    await new Promise<void>((resolve) => {
      checking = resolve;
      socks.socket.write(encodeUserPassRequest({ username: 'alice', password: 'pw' }));
    });
    socks.socket.end();
    assert.equal((await server.record(0)).result, 'client closed the connection during auth');
    const http = await server.client();
    await new Promise<void>((resolve) => {
      checking = resolve;
      http.socket.write(`CONNECT 127.0.0.1:9 HTTP/1.1\r\nProxy-Authorization: ${basic('alice', 'pw')}\r\n\r\n`);
    });
    http.socket.end();
    assert.equal((await server.record(1)).result, 'client closed the connection during auth');
  } finally {
    await server.close();
  }
});
