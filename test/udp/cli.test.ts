/** `socx udp-send` ↔ `socx serve` ↔ a UDP echo, all through the built executable (dist/socx): text, 1,200
 * binary bytes byte-exact, --count 100 all back, IPv4 and IPv6, with and without auth; the exit codes; the
 * serve options --no-udp, --udp-ports, --udp-idle-timeout; the log line; the relay port closing. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Collector, connectTo } from '../helpers/net.ts';
import { associate, socx, startServe, startUdpEcho, TestUdp, waitForOutput, waitUntilFree, type Serve } from './udp-helpers.ts';

const T = { timeout: 60_000 };

for (const host of ['127.0.0.1', '::1']) {
  describe(`socx udp-send through socx serve, both on ${host}`, () => {
    let open: Serve;
    let authed: Serve;
    let echo: TestUdp;
    before(async () => {
      open = await startServe([], host);
      authed = await startServe(['--auth', 'alice:s3cret'], host);
      echo = await startUdpEcho(host);
    });
    after(async () => {
      await open.stop();
      await authed.stop();
      echo.close();
    });

    test('text as an argument comes back on stdout, exit 0', T, async () => {
      const r = await socx(['udp-send', '-x', open.url, '--wait', '500', host, String(echo.port), 'hello over udp']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'hello over udp');
      assert.equal(r.stderr, '');
    });

    test('1,200 binary bytes from stdin come back byte for byte', T, async () => {
      const payload = randomBytes(1200);
      const r = await socx(['udp-send', '-x', open.url, '--wait', '500', host, String(echo.port)], payload);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.equals(payload), `got ${r.stdout.length} bytes`);
    });

    test('--count 100 --hex: every reply comes back, one hex line each; the serve log line counts them', T, async () => {
      const r = await socx(['udp-send', '-x', open.url, '--count', '100', '--hex', '--wait', '1000', host, String(echo.port), 'count me']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.toString().trimEnd().split('\n');
      assert.equal(lines.length, 100);
      assert.ok(lines.every((line) => line === Buffer.from('count me').toString('hex')));
      await waitForOutput(open, /udp \S+ ok up=800B down=800B \S+ udp_up=100 udp_down=100 dropped=0/);
    });

    test('auth: credentials in the URL or with -U relay; a wrong password exits 3', T, async () => {
      const withUrl = authed.url.replace('socks5h://', 'socks5h://alice:s3cret@');
      const r1 = await socx(['udp-send', '-x', withUrl, '--wait', '500', host, String(echo.port), 'in url']);
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal(r1.stdout.toString(), 'in url');
      const payload = randomBytes(1200);
      const r2 = await socx(['udp-send', '-x', authed.url, '-U', 'alice:s3cret', '--wait', '500', host, String(echo.port)], payload);
      assert.equal(r2.code, 0, r2.stderr);
      assert.ok(r2.stdout.equals(payload));
      const r3 = await socx(['udp-send', '-x', authed.url, '-U', 'alice:wrong', '--wait', '500', host, String(echo.port), 'x']);
      assert.equal(r3.code, 3, r3.stderr);
      assert.equal(r3.stdout.length, 0);
      const r4 = await socx(['udp-send', '-x', authed.url, '--wait', '500', host, String(echo.port), 'x']);
      assert.equal(r4.code, 3, r4.stderr);
    });

    test('-v prints the association and the source of each reply on stderr; stdout stays data only', T, async () => {
      const r = await socx(['udp-send', '-v', '-x', open.url, '--wait', '500', host, String(echo.port), 'verbose']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'verbose');
      const bracketed = host.includes(':') ? `[${host}]` : host;
      assert.match(r.stderr, new RegExp(`UDP association through socks5h://${bracketed.replace(/[[\]]/g, '\\$&')}:${open.port}: relay ${bracketed.replace(/[[\]]/g, '\\$&')}:\\d+`));
      assert.ok(r.stderr.includes(`reply 1: 7 bytes from ${bracketed}:${echo.port}`), r.stderr);
    });
  });
}

describe('socx udp-send exit codes and messages', () => {
  let serve: Serve;
  let echo: TestUdp;
  before(async () => {
    serve = await startServe();
    echo = await startUdpEcho();
  });
  after(async () => {
    await serve.stop();
    echo.close();
  });

  test('no reply within --wait: exit 1 and a message naming the target', T, async () => {
    const silent = await TestUdp.bind('127.0.0.1');
    try {
      const r = await socx(['udp-send', '-x', serve.url, '--wait', '300', '127.0.0.1', String(silent.port), 'anyone?']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^socx: no reply from 127\\.0\\.0\\.1:${silent.port} within 300 ms\\n$`));
      await silent.nth(0);
    } finally {
      silent.close();
    }
  });

  test('--wait 0 sends and exits 0 without waiting', T, async () => {
    const silent = await TestUdp.bind('127.0.0.1');
    try {
      const r = await socx(['udp-send', '-x', serve.url, '--wait', '0', '127.0.0.1', String(silent.port), 'fire and forget']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await silent.nth(0)).msg.toString(), 'fire and forget');
    } finally {
      silent.close();
    }
  });

  test('a SOCKS4 proxy URL is a usage error (exit 2): UDP is SOCKS5 only', T, async () => {
    const r = await socx(['udp-send', '-x', `socks4://127.0.0.1:${serve.port}`, '127.0.0.1', String(echo.port), 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /UDP ASSOCIATE needs SOCKS5/);
  });

  test('a payload that does not fit one datagram is refused with the limit (exit 2); the limit itself passes', T, async () => {
    const r = await socx(['udp-send', '-x', serve.url, '127.0.0.1', String(echo.port)], Buffer.alloc(65_498));
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'socx: the payload is 65498 bytes; one SOCKS5 UDP datagram to 127.0.0.1:' + echo.port + ' carries at most 65497 (65507 less the RFC 1928 header)\n');
    const six = await socx(['udp-send', '-x', serve.url, '::1', '9'], Buffer.alloc(65_486));
    assert.equal(six.code, 2);
    assert.match(six.stderr, /at most 65485/);
    const max = await socx(['udp-send', '-x', serve.url, '--wait', '1000', '127.0.0.1', String(echo.port)], Buffer.alloc(65_497, 0x5a));
    assert.equal(max.code, 0, max.stderr);
    assert.equal(max.stdout.length, 65_497);
  });

  test('DATA after -- may start with a dash; --local sends from (and announces) the given port', T, async () => {
    const r = await socx(['udp-send', '-x', serve.url, '--wait', '500', '127.0.0.1', String(echo.port), '--', '-n']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), '-n');
    const probe = await TestUdp.bind('127.0.0.1');
    const port = probe.port;
    probe.close();
    const local = await socx(['udp-send', '-v', '-x', serve.url, '--local', `127.0.0.1:${port}`, '--wait', '500', '127.0.0.1', String(echo.port), 'local']);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(local.stdout.toString(), 'local');
    assert.ok(local.stderr.includes(`sending from 127.0.0.1:${port} (announced 127.0.0.1:${port})`), local.stderr);
    await waitForOutput(serve, new RegExp(`socks5 udp 127\\.0\\.0\\.1:${port} ok`));
  });

  test('bad usage: a bad port, --count 0 (exit 2)', T, async () => {
    assert.equal((await socx(['udp-send', '-x', serve.url, '127.0.0.1', '0', 'x'])).code, 2);
    assert.equal((await socx(['udp-send', '-x', serve.url, '--count', '0', '127.0.0.1', '9', 'x'])).code, 2);
  });

  test('an unreachable proxy: exit 1', T, async () => {
    const r = await socx(['udp-send', '-x', 'socks5h://127.0.0.1:1', '--wait', '100', '127.0.0.1', '9', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Cannot connect to proxy 127\.0\.0\.1:1/);
  });
});

describe('socx serve UDP options', () => {
  test('--no-udp: udp-send exits 4 naming reply 0x07', T, async () => {
    const serve = await startServe(['--no-udp']);
    try {
      const r = await socx(['udp-send', '-x', serve.url, '127.0.0.1', '9', 'x']);
      assert.equal(r.code, 4);
      assert.equal(r.stderr, 'socx: proxy refused: command not supported (SOCKS5 reply 0x07)\n');
    } finally {
      await serve.stop();
    }
  });

  test('--udp-ports: the relay port comes from the range', T, async () => {
    const probe = await TestUdp.bind('127.0.0.1');
    const port = probe.port;
    probe.close();
    const serve = await startServe(['--udp-ports', `${port}-${port}`]);
    const echo = await startUdpEcho();
    try {
      const r = await socx(['udp-send', '-v', '-x', serve.url, '--wait', '500', '127.0.0.1', String(echo.port), 'ranged']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`relay 127\\.0\\.0\\.1:${port}\\b`));
      assert.equal(r.stdout.toString(), 'ranged');
    } finally {
      echo.close();
      await serve.stop();
    }
  });

  test('--udp-ports and --udp-idle-timeout are checked (exit 2)', T, async () => {
    for (const args of [['--udp-ports', '9-1'], ['--udp-ports', '70000-70001'], ['--udp-ports', 'x'], ['--udp-idle-timeout', '-1']]) {
      const r = await socx(['serve', '-l', '127.0.0.1:0', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  test('--udp-idle-timeout 1: the server ends a quiet association, and udp-send stops waiting (exit 1)', T, async () => {
    const serve = await startServe(['--udp-idle-timeout', '1']);
    try {
      const started = performance.now();
      const r = await socx(['udp-send', '-x', serve.url, '--wait', '10000', '127.0.0.1', '9', 'x']);
      const elapsed = performance.now() - started;
      assert.equal(r.code, 1);
      assert.match(r.stderr, /the proxy closed the control connection/);
      assert.ok(elapsed < 6000, `took ${elapsed} ms`);
      await waitForOutput(serve, /udp 0\.0\.0\.0:0 ok, ended: idle-timeout/);
    } finally {
      await serve.stop();
    }
  });

  test('the relay port is closed within a second of the control connection ending', T, async () => {
    const serve = await startServe();
    try {
      const { control, reply } = await associate({ client: async () => new Collector(await connectTo('127.0.0.1', serve.port)) });
      assert.equal(reply.reply, 0);
      assert.equal(reply.address.host, '127.0.0.1');
      control.socket.destroy();
      const tookMs = await waitUntilFree('127.0.0.1', reply.address.port, 1000);
      assert.ok(tookMs < 1000);
    } finally {
      await serve.stop();
    }
  });
});

