// PySocks (python3-socks, on /usr/bin/python3) as the SOCKS client of the built `socx serve`:
// SOCKS4, SOCKS4a, SOCKS5 with and without remote DNS, and RFC 1929 username/password, each echoing
// 1 MiB through the echo server byte-exact.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { pythonWithSocks, startEchoServer, type Peer } from '../support/peers.ts';
import { run, type RunResult } from '../support/process.ts';
import { Cleanup, describeRun, sha256, startSocxServe, type SocxServer } from './socx.ts';

const T = { timeout: 30_000 };
const DATA = randomBytes(1024 * 1024);

// argv: proxy type (4|5), proxy host, proxy port, rdns (0|1), target host, target port, [user, password].
// Sends all of stdin from a thread (so a full echo cannot deadlock against our reads), half-closes,
// reads until EOF and prints the received length and sha256. A proxy error exits 3 naming its class.
const SCRIPT = `
import hashlib, socket, sys, threading, socks
kind, phost, pport, rdns, thost, tport = sys.argv[1:7]
creds = (sys.argv[7:9] + [None, None])[:2]
data = sys.stdin.buffer.read()
s = socks.socksocket(socket.AF_INET, socket.SOCK_STREAM)
s.set_proxy(socks.SOCKS4 if kind == '4' else socks.SOCKS5, phost, int(pport), rdns=rdns == '1',
            username=creds[0], password=creds[1])
s.settimeout(20)
try:
    s.connect((thost, int(tport)))
except socks.ProxyError as e:
    sys.stderr.write(type(e).__name__ + ': ' + str(e) + '\\n')
    sys.exit(3)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
h = hashlib.sha256()
n = 0
while True:
    b = s.recv(65536)
    if not b:
        break
    h.update(b)
    n += len(b)
t.join()
print(n, h.hexdigest())
`;

describe('PySocks through socx serve', () => {
  const cleanup = new Cleanup();
  let python: string;
  let echo: Peer;
  let open: SocxServer;
  let authed: SocxServer;

  before(async () => {
    python = await pythonWithSocks();
    echo = cleanup.add(await startEchoServer());
    open = cleanup.add(await startSocxServe(['-q']));
    authed = cleanup.add(await startSocxServe(['-q', '--auth', 'alice:s3cret']));
  });
  after(() => cleanup.run());

  function pysocks(kind: 4 | 5, proxy: SocxServer, rdns: boolean, targetHost: string, creds: string[] = []): Promise<RunResult> {
    const args = ['-c', SCRIPT, String(kind), proxy.host, String(proxy.port), rdns ? '1' : '0', targetHost, String(echo.port), ...creds];
    return run(python, args, { input: DATA, timeoutMs: 25_000 });
  }

  function assertEchoed(r: RunResult, proxy: SocxServer): void {
    assert.equal(r.code, 0, describeRun(r, proxy.output()));
    assert.equal(r.stdout.toString(), `${DATA.length} ${sha256(DATA)}\n`, describeRun(r, proxy.output()));
  }

  const cases = [
    { name: 'SOCKS4', kind: 4, rdns: false, host: '127.0.0.1' },
    { name: 'SOCKS4a (rdns, a name for socx to resolve)', kind: 4, rdns: true, host: 'localhost' },
    { name: 'SOCKS5', kind: 5, rdns: false, host: '127.0.0.1' },
    { name: 'SOCKS5 with remote DNS', kind: 5, rdns: true, host: 'localhost' },
  ] as const;
  for (const c of cases) {
    test(`${c.name}: 1 MiB echoed byte-exact`, T, async () => {
      assertEchoed(await pysocks(c.kind, open, c.rdns, c.host), open);
    });
  }

  test('SOCKS5 username/password against serve --auth: 1 MiB echoed byte-exact', T, async () => {
    assertEchoed(await pysocks(5, authed, false, '127.0.0.1', ['alice', 's3cret']), authed);
  });

  test('SOCKS5 with a wrong password: PySocks reports the authentication failure', T, async () => {
    const r = await pysocks(5, authed, false, '127.0.0.1', ['alice', 'wrong']);
    assert.equal(r.code, 3, describeRun(r, authed.output()));
    // PySocks wraps its SOCKS5AuthError: "GeneralProxyError: Socket error: SOCKS5 authentication failed".
    assert.match(r.stderr, /SOCKS5 authentication failed/, describeRun(r));
  });

  test('SOCKS4 against serve --auth: PySocks reports the request rejected (SOCKS4 cannot authenticate)', T, async () => {
    const r = await pysocks(4, authed, false, '127.0.0.1', ['alice']);
    assert.equal(r.code, 3, describeRun(r, authed.output()));
    assert.match(r.stderr, /^GeneralProxyError: .*(rejected|failed)/i, describeRun(r));
  });
});
