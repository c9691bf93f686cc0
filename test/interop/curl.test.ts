// curl as the SOCKS client of the built `socx serve`: every curl SOCKS mode (4, 4a, 5, 5-hostname),
// RFC 1929 username/password, and an IPv6 listener, each fetching 4 MiB of random bytes byte-exact.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startHttpServer } from '../support/peers.ts';
import { requireBinary, run, type RunResult } from '../support/process.ts';
import { Cleanup, describeRun, sha256, startSocxServe, waitForOutput, type SocxServer } from './socx.ts';

const T = { timeout: 30_000 };
const BODY = randomBytes(4 * 1024 * 1024);
const BODY_SHA = sha256(BODY);
// curl's CURLE_PROXY: the SOCKS handshake failed (curl >= 7.73).
const CURLE_PROXY = 97;

describe('curl through socx serve', () => {
  const cleanup = new Cleanup();
  let curl: string;
  let web: Awaited<ReturnType<typeof startHttpServer>>;
  let open: SocxServer;
  let authed: SocxServer;

  before(async () => {
    curl = requireBinary('curl');
    web = cleanup.add(await startHttpServer(BODY));
    // Not quiet: its per-connection lines show what curl put on the wire.
    open = cleanup.add(await startSocxServe());
    authed = cleanup.add(await startSocxServe(['-q', '--auth', 'u:p']));
  });
  after(() => cleanup.run());

  function fetch(proxyFlag: string, proxy: SocxServer, urlHost: string, extra: string[] = []): Promise<RunResult> {
    return run(
      curl,
      ['-sS', '--fail', '--max-time', '20', proxyFlag, proxy.authority, ...extra, `http://${urlHost}:${web.port}/`],
      { timeoutMs: 25_000 },
    );
  }

  function assertBody(r: RunResult, what: string, proxy: SocxServer): void {
    assert.equal(r.code, 0, `${what}: ${describeRun(r, proxy.output())}`);
    assert.equal(r.stdout.length, BODY.length, `${what}: body length`);
    assert.equal(sha256(r.stdout), BODY_SHA, `${what}: body differs`);
  }

  // With --socks4 and --socks5 curl sends an address; with --socks4a and --socks5-hostname it sends the
  // name "localhost" for socx to resolve. socx logs SOCKS4a as socks4 with a name as the target.
  const modes = [
    { flag: '--socks4', host: '127.0.0.1', logged: 'socks4' },
    { flag: '--socks4a', host: 'localhost', logged: 'socks4' },
    { flag: '--socks5', host: '127.0.0.1', logged: 'socks5' },
    { flag: '--socks5-hostname', host: 'localhost', logged: 'socks5' },
  ];
  for (const { flag, host, logged } of modes) {
    test(`curl ${flag} fetches 4 MiB byte-exact`, T, async () => {
      assertBody(await fetch(flag, open, host), flag, open);
      // The connection record names the protocol, the target as sent, and the bytes relayed.
      await waitForOutput(open, new RegExp(`\\n\\d{4}-\\S+Z \\S+ ${logged} connect ${host}:${web.port} ok up=\\S+ down=4\\.0MiB `));
    });
  }

  test('curl --socks5 --proxy-user u:p against serve --auth u:p', T, async () => {
    assertBody(await fetch('--socks5', authed, '127.0.0.1', ['--proxy-user', 'u:p']), 'right password', authed);
  });

  test('curl --socks5 with a wrong password fails with CURLE_PROXY (97), no request reaches the target', T, async () => {
    const before = web.requests();
    const r = await fetch('--socks5', authed, '127.0.0.1', ['--proxy-user', 'u:wrong']);
    assert.equal(r.code, CURLE_PROXY, describeRun(r, authed.output()));
    assert.equal(r.stdout.length, 0);
    assert.equal(web.requests(), before, 'the target saw a request');
  });

  test('curl --socks5 without credentials against serve --auth fails with 97 (no acceptable method)', T, async () => {
    const r = await fetch('--socks5', authed, '127.0.0.1');
    assert.equal(r.code, CURLE_PROXY, describeRun(r, authed.output()));
  });

  test('curl --socks4 against serve --auth is refused (SOCKS4 cannot authenticate)', T, async () => {
    const r = await fetch('--socks4', authed, '127.0.0.1');
    assert.equal(r.code, CURLE_PROXY, describeRun(r, authed.output()));
  });

  test('serve -q printed nothing but its ready line', T, async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.match(authed.output(), /^socx: listening on 127\.0\.0\.1:\d+\n$/);
  });

  test('IPv6 listener: serve -l [::1]:0 with curl --socks5-hostname [::1]:PORT', T, async () => {
    const v6 = await startSocxServe(['-q', '-l', '[::1]:0']);
    try {
      assert.equal(v6.host, '::1');
      assert.equal(v6.authority, `[::1]:${v6.port}`);
      assertBody(await fetch('--socks5-hostname', v6, 'localhost'), 'IPv6 proxy', v6);
    } finally {
      await v6.stop();
    }
  });
});
