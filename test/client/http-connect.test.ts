/** HTTP CONNECT hops (lib/client/http-connect.ts): the exact request bytes, what each answer maps to (2xx,
 * 1xx, 407, other statuses, garbage), bytes behind the head; against tinyproxy and squid, alone and in
 * chains with SocksServers (SOCKS through HTTP, HTTP through SOCKS); https:// refuses an unverified proxy. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chainOptions, openSession, type ClientOptions, type ProxySession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { decodeHttpRequestHead } from '../../lib/codec/http-head.ts';
import { toAddress, type Address } from '../../lib/codec/address.ts';
import { describeError, exitCodeFor, SocxError } from '../../lib/errors.ts';
import { closedPort, Collector, startEcho, withRogue, withTimeout, type EchoServer, type RoguePeer } from '../helpers/net.ts';
import { startSocksServer, type TestServer } from '../helpers/socks.ts';
import { startSquid, startTinyproxy, type Peer } from '../support/peers.ts';
import { startTlsTerminator, type TlsTerminator } from '../support/tls-terminator.ts';

const T = { timeout: 30_000 };

function chain(urls: string[], extra: Partial<ClientOptions> = {}): ClientOptions {
  return { ...chainOptions(urls.map((url) => parseProxyUrl(url))), timeoutMs: 5000, ...extra };
}

async function failure(promise: Promise<ProxySession>): Promise<SocxError> {
  const outcome = await withTimeout(promise.then((session) => { session.socket.destroy(); return undefined; }, (error: unknown) => error), 8000, 'the session to fail');
  assert.ok(outcome instanceof SocxError, `expected a SocxError, got ${String(outcome)}`);
  return outcome;
}

/** tinyproxy and squid close both ways on a half-close (as microsocks does), so the upload ends only once
 * the whole echo is back. */
async function echoes(session: ProxySession, data: Buffer): Promise<void> {
  const collector = new Collector(session.socket);
  session.socket.write(data);
  await collector.until(() => session.head.length + collector.length >= data.length, 15_000, `${data.length} bytes of echo`);
  session.socket.end();
  const back = Buffer.concat([session.head, collector.all]);
  assert.equal(back.length, data.length);
  assert.ok(back.equals(data), 'echo differs');
  await collector.close();
}

/** A fake HTTP proxy: reads one request head, answers `answer`, leaves the connection open. */
const answering = (answer: string | Buffer) => async (peer: RoguePeer): Promise<void> => {
  await peer.input.read((buf) => decodeHttpRequestHead(buf));
  peer.socket.write(answer);
};

const TARGET: Address = toAddress('127.0.0.1', 9);

describe('HTTP CONNECT against scripted proxies', () => {
  test('the request: authority-form, Host, Basic credentials (UTF-8); a 200 opens the tunnel, bytes behind it are kept', T, async () => {
    await withRogue(answering('HTTP/1.1 200 Connection established\r\nContent-Length: 5\r\n\r\nSSH-2'), async (rogue) => {
      const session = await openSession('connect', toAddress('example.com', 443), chain([`http://us%C3%A9r:p%40ss@127.0.0.1:${rogue.port}`]));
      try {
        assert.equal(session.head.toString(), 'SSH-2');
        assert.deepEqual(session.bound, { type: 'ipv4', host: '0.0.0.0', port: 0 });
        const sent = (await rogue.peer(0)).input.all.toString('latin1');
        assert.equal(sent, `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic ${Buffer.from('usér:p@ss').toString('base64')}\r\n\r\n`);
      } finally {
        session.socket.destroy();
      }
    });
  });

  test('an IPv6 target in brackets; no credentials, no Proxy-Authorization', T, async () => {
    await withRogue(answering('HTTP/1.0 200 OK\r\n\r\n'), async (rogue) => {
      const session = await openSession('connect', toAddress('::1', 22), chain([`http://127.0.0.1:${rogue.port}`]));
      session.socket.destroy();
      assert.equal((await rogue.peer(0)).input.all.toString('latin1'), 'CONNECT [::1]:22 HTTP/1.1\r\nHost: [::1]:22\r\n\r\n');
    });
  });

  test('interim 1xx answers are skipped; the trace shows each', T, async () => {
    await withRogue(answering('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Tunnel\\ok\r\n\r\n'), async (rogue) => {
      const lines: string[] = [];
      const session = await openSession('connect', TARGET, chain([`http://alice:pw@127.0.0.1:${rogue.port}`], { trace: (line) => lines.push(line) }));
      session.socket.destroy();
      assert.deepEqual(lines, [
        `* connected to 127.0.0.1:${rogue.port}`,
        '> http CONNECT 127.0.0.1:9 auth=basic user=alice',
        '< http 100 Continue',
        '< http 200 Tunnel\\\\ok',
      ]);
    });
  });

  const refusals: Array<[string, string, number, string]> = [
    ['403', 'HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!', 4, 'proxy refused: 403 Forbidden (HTTP)'],
    ['502 with a C1 control in the reason', 'HTTP/1.1 502 Bad\x9bGateway\r\n\r\n', 4, 'proxy refused: 502 Bad\\x9bGateway (HTTP)'],
    ['an empty reason', 'HTTP/1.1 504 \r\n\r\n', 4, 'proxy refused: 504 (HTTP)'],
    ['407 without credentials', 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n', 3,
      'proxy refused authentication: 407 Proxy Authentication Required (HTTP) (it requires a username and password: -U user:pass, or user:pass@ in the URL)'],
    ['407 asking for NTLM and Negotiate only', 'HTTP/1.1 407 Auth\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate abc\r\n\r\n', 3,
      'proxy refused authentication: 407 Auth (HTTP); it asks for NTLM, Negotiate, and socx speaks only Basic'],
    ['a control character in the reason', 'HTTP/1.1 403 Bad\x1b[31m\r\n\r\n', 1, 'does not speak HTTP as expected'],
    ['SOCKS bytes', Buffer.from([0x05, 0xff]).toString('latin1'), 1, 'answered in SOCKS, not HTTP: is it a SOCKS proxy (socks5h://)?'],
    // Left open, as the peers below do: the answer fails at its first bytes, not at the deadline.
    ['SOCKS bytes, the connection left open', Buffer.from([0x05, 0xff]).toString('latin1'), 1, 'answered in SOCKS, not HTTP: is it a SOCKS proxy (socks5h://)?'],
    ['a line that is not HTTP, the connection left open', 'garbage!!\r\n', 1, 'does not speak HTTP as expected: the answer is not an HTTP response: it does not begin with "HTTP/"'],
  ];
  for (const [what, answer, exit, message] of refusals) {
    test(`${what}: exit ${exit}`, T, async () => {
      await withRogue(async (peer) => {
        await answering(Buffer.from(answer, 'latin1'))(peer);
        if (what === 'SOCKS bytes') peer.socket.end();
      }, async (rogue) => {
        const error = await failure(openSession('connect', TARGET, chain([`http://127.0.0.1:${rogue.port}`])));
        assert.equal(exitCodeFor(error), exit, error.message);
        if (exit === 1) assert.ok(describeError(error).includes(message), describeError(error));
        else assert.equal(describeError(error), message);
      });
    });
  }

  test('407 with credentials names the user', T, async () => {
    await withRogue(answering('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n'), async (rogue) => {
      const error = await failure(openSession('connect', TARGET, chain([`http://bob:wrong@127.0.0.1:${rogue.port}`])));
      assert.equal(exitCodeFor(error), 3);
      assert.equal(describeError(error), 'proxy refused authentication: 407 Proxy Authentication Required (HTTP) for user "bob"');
      assert.ok(!describeError(error).includes('wrong'));
    });
  });

  test('a target name CONNECT cannot carry: usage error, nothing dialed', T, async () => {
    await withRogue(() => {}, async (rogue) => {
      const error = await failure(openSession('connect', toAddress('a b', 80), chain([`http://127.0.0.1:${rogue.port}`])));
      assert.equal(exitCodeFor(error), 2);
      assert.equal(rogue.peers.length, 0);
    });
  });
});

describe('HTTP hops: tinyproxy and squid, alone and chained with SocksServers', () => {
  let echo: EchoServer;
  let open: TestServer;
  let authed: TestServer;
  let tinyproxy: Peer & { output(): string };
  let guarded: Peer;
  let squid: Peer & { output(): Promise<string> };
  let tls: TlsTerminator;
  before(async () => {
    echo = await startEcho();
    open = await startSocksServer();
    const { usersAuthenticator } = await import('../../lib/server/auth.ts');
    authed = await startSocksServer({ authenticate: usersAuthenticator(new Map([['carol', 'c-pw']])) });
    [tinyproxy, guarded, squid] = await Promise.all([startTinyproxy(), startTinyproxy({ connectPort: echo.port, user: 'alice', password: 's3cret' }), startSquid()]);
    tls = await startTlsTerminator(tinyproxy.port);
  });
  after(async () => {
    await Promise.all([echo.close(), open.close(), authed.close(), tinyproxy.stop(), guarded.stop(), squid.stop(), tls.close()]);
  });

  const data = randomBytes(512 * 1024);

  test('tinyproxy: 512 KiB each way byte-exact', T, async () => {
    await echoes(await openSession('connect', toAddress('127.0.0.1', echo.port), chain([`http://127.0.0.1:${tinyproxy.port}`])), data);
  });

  test('squid: 512 KiB each way byte-exact', T, async () => {
    await echoes(await openSession('connect', toAddress('127.0.0.1', echo.port), chain([`http://127.0.0.1:${squid.port}`])), data);
  });

  test('tinyproxy with BasicAuth: the right login works, none is 407 (exit 3), a wrong one too', T, async () => {
    await echoes(await openSession('connect', toAddress('127.0.0.1', echo.port), chain([`http://alice:s3cret@127.0.0.1:${guarded.port}`])), data);
    const none = await failure(openSession('connect', toAddress('127.0.0.1', echo.port), chain([`http://127.0.0.1:${guarded.port}`])));
    assert.equal(exitCodeFor(none), 3);
    assert.match(describeError(none), /^proxy refused authentication: 407 Proxy Authentication Required \(HTTP\) \(it requires a username and password/);
    // tinyproxy answers a wrong login with 401, not 407.
    const wrong = await failure(openSession('connect', toAddress('127.0.0.1', echo.port), chain([`http://alice:nope@127.0.0.1:${guarded.port}`])));
    assert.equal(exitCodeFor(wrong), 3);
    assert.equal(describeError(wrong), 'proxy refused authentication: 401 Unauthorized (HTTP) for user "alice"');
  });

  test('tinyproxy refusing the port: "proxy refused: 403 Access violation (HTTP)", exit 4', T, async () => {
    const error = await failure(openSession('connect', toAddress('127.0.0.1', echo.port + 1), chain([`http://alice:s3cret@127.0.0.1:${guarded.port}`])));
    assert.equal(exitCodeFor(error), 4);
    assert.equal(describeError(error), 'proxy refused: 403 Access violation (HTTP)');
  });

  test('squid, nothing listening at the target: exit 4 naming its status', T, async () => {
    const error = await failure(openSession('connect', toAddress('127.0.0.1', await closedPort()), chain([`http://127.0.0.1:${squid.port}`])));
    assert.equal(exitCodeFor(error), 4);
    assert.equal(describeError(error), 'proxy refused: 503 Service Unavailable (HTTP)');
  });

  test('SOCKS through HTTP: tinyproxy → SocksServer (with a login) → target', T, async () => {
    await echoes(await openSession('connect', toAddress('localhost', echo.port), chain([`http://127.0.0.1:${tinyproxy.port}`, `socks5h://carol:c-pw@127.0.0.1:${authed.port}`])), data);
    assert.equal((await authed.record(0)).target, `localhost:${echo.port}`);
  });

  test('HTTP through SOCKS through HTTP: squid → SocksServer → tinyproxy (with a login) → target', T, async () => {
    const lines: string[] = [];
    const urls = [`http://127.0.0.1:${squid.port}`, `socks4a://127.0.0.1:${open.port}`, `http://alice:s3cret@localhost:${guarded.port}`];
    await echoes(await openSession('connect', toAddress('127.0.0.1', echo.port), chain(urls, { trace: (line) => lines.push(line) })), data);
    assert.deepEqual(lines.map((line) => line.replace(/bnd=127\.0\.0\.1:\d+$/, 'bnd=127.0.0.1:P')), [
      `[hop 1] * connected to 127.0.0.1:${squid.port}`,
      `[hop 1] > http CONNECT 127.0.0.1:${open.port}`,
      '[hop 1] < http 200 Connection established',
      `[hop 2] > socks4 connect localhost:${guarded.port}`,
      '[hop 2] < socks4 reply request granted bnd=127.0.0.1:P',
      `[hop 3] > http CONNECT 127.0.0.1:${echo.port} auth=basic user=alice`,
      '[hop 3] < http 200 Connection established',
    ]);
  });

  test('hop 2 of a chain answers 407: the error names it, exit 3', T, async () => {
    const error = await failure(openSession('connect', toAddress('127.0.0.1', echo.port), chain([`socks5h://127.0.0.1:${open.port}`, `http://127.0.0.1:${guarded.port}`])));
    assert.equal(exitCodeFor(error), 3);
    assert.equal(error.hop, 2);
    assert.match(describeError(error), new RegExp(`^hop 2 \\(http://127\\.0\\.0\\.1:${guarded.port}\\) refused authentication: 407 `));
  });

  test('https:// (TLS to the proxy): a certificate the system does not trust is refused, exit 1, nothing sent in clear', T, async () => {
    const error = await failure(openSession('connect', toAddress('127.0.0.1', echo.port), chain([`https://127.0.0.1:${tls.port}`])));
    assert.equal(exitCodeFor(error), 1);
    assert.match(describeError(error), new RegExp(`^TLS with proxy https://127\\.0\\.0\\.1:${tls.port} failed: self-signed certificate \\(a private CA: NODE_EXTRA_CA_CERTS=its-cert\\.pem\\)$`));
    assert.equal(tls.plaintextBytes(), 0);
  });
});
