// ncat (nmap) as the SOCKS client of the built `socx serve`, nc-style: stdin to the echo server and back.
// ncat (7.x) half-closes on stdin EOF (shutdown(SHUT_WR), unless --no-shutdown) and keeps reading until
// the remote side closes, so the echo comes back whole and ncat exits 0: no --send-only/--recv-only needed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startEchoServer, type Peer } from '../support/peers.ts';
import { requireBinary, run, type RunResult } from '../support/process.ts';
import { Cleanup, describeRun, sha256, startSocxServe, waitForOutput, type SocxServer } from './socx.ts';

const T = { timeout: 30_000 };
const DATA = randomBytes(2 * 1024 * 1024);

describe('ncat through socx serve', () => {
  const cleanup = new Cleanup();
  let ncat: string;
  let echo: Peer;
  let open: SocxServer;
  let authed: SocxServer;

  before(async () => {
    ncat = requireBinary('ncat');
    echo = cleanup.add(await startEchoServer());
    open = cleanup.add(await startSocxServe());
    authed = cleanup.add(await startSocxServe(['-q', '--auth', 'u:p']));
  });
  after(() => cleanup.run());

  function ncatThrough(proxy: SocxServer, type: 'socks4' | 'socks5', targetHost: string, extra: string[] = []): Promise<RunResult> {
    const args = ['--proxy', proxy.authority, '--proxy-type', type, ...extra, targetHost, String(echo.port)];
    return run(ncat, args, { input: DATA, timeoutMs: 25_000 });
  }

  function assertEchoed(r: RunResult, proxy: SocxServer): void {
    assert.equal(r.code, 0, describeRun(r, proxy.output()));
    assert.equal(r.stdout.length, DATA.length, describeRun(r, proxy.output()));
    assert.equal(sha256(r.stdout), sha256(DATA), 'echo differs');
  }

  // --proxy-dns remote makes ncat send the name: SOCKS4a for socks4, ATYP 03 for socks5.
  const cases = [
    { name: 'socks4', type: 'socks4', host: '127.0.0.1', extra: [], logged: 'socks4' },
    { name: 'socks4 --proxy-dns remote (SOCKS4a)', type: 'socks4', host: 'localhost', extra: ['--proxy-dns', 'remote'], logged: 'socks4' },
    { name: 'socks5', type: 'socks5', host: '127.0.0.1', extra: [], logged: 'socks5' },
    { name: 'socks5 --proxy-dns remote', type: 'socks5', host: 'localhost', extra: ['--proxy-dns', 'remote'], logged: 'socks5' },
  ] as const;
  for (const c of cases) {
    test(`ncat --proxy-type ${c.name}: 2 MiB echoed byte-exact`, T, async () => {
      assertEchoed(await ncatThrough(open, c.type, c.host, [...c.extra]), open);
      await waitForOutput(open, new RegExp(`\\n\\d{4}-\\S+Z \\S+ ${c.logged} connect ${c.host}:${echo.port} ok up=2\\.0MiB down=2\\.0MiB `));
    });
  }

  test('ncat --proxy-type socks5 --proxy-auth u:p against serve --auth u:p', T, async () => {
    assertEchoed(await ncatThrough(authed, 'socks5', '127.0.0.1', ['--proxy-auth', 'u:p']), authed);
  });

  test('ncat --proxy-auth with a wrong password fails and relays nothing', T, async () => {
    const r = await ncatThrough(authed, 'socks5', '127.0.0.1', ['--proxy-auth', 'u:nope']);
    assert.notEqual(r.code, 0, describeRun(r, authed.output()));
    assert.equal(r.stdout.length, 0);
  });
});
