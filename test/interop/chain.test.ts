// The built `socx connect` with -x repeated (a chain) and http:// proxies: three `socx serve` hops with a
// different login each, Dante and microsocks as hops, tinyproxy and squid as HTTP hops, an https:// proxy;
// the exit codes and one-line errors naming the failing hop; proxies from the environment; -v traces of
// connect, bind and udp-send, line by line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startBind } from '../bind/cli.ts';
import { connectPeer } from '../bind/helpers.ts';
import { withTimeout } from '../helpers/net.ts';
import { startDante, startEchoServer, startMicrosocks, startSquid, startTinyproxy, startUdpEchoServer, type Peer } from '../support/peers.ts';
import { freePort } from '../support/process.ts';
import { startTlsTerminator, type TlsTerminator } from '../support/tls-terminator.ts';
import { assertOneErrorLine, Cleanup, describeRun, NO_PROXY_ENV, runSocx, sha256, spawnSocx, startSocxServe, type SocxServer } from './socx.ts';

const T = { timeout: 60_000 };
const DATA = randomBytes(4 * 1024 * 1024);

describe('socx connect through chains and HTTP proxies', () => {
  const cleanup = new Cleanup();
  let echo: Peer;
  let udpEcho: Peer;
  let alice: SocxServer;
  let bob: SocxServer;
  let open: SocxServer;
  let dante: Peer;
  let microsocks: Peer;
  let tinyproxy: Peer;
  let guarded: Peer;
  let squid: Peer;
  let tls: TlsTerminator;
  let closedPort: number;

  before(async () => {
    echo = cleanup.add(await startEchoServer());
    udpEcho = cleanup.add(await startUdpEchoServer());
    [alice, bob, open] = await Promise.all([
      startSocxServe(['-q', '--auth', 'alice:a-pw']),
      startSocxServe(['-q', '--auth', 'bob:b:pw']),
      startSocxServe(['-q']),
    ]);
    for (const served of [alice, bob, open]) cleanup.add(served);
    dante = cleanup.add(await startDante());
    microsocks = cleanup.add(await startMicrosocks({ user: 'mike', password: 'm-pw' }));
    tinyproxy = cleanup.add(await startTinyproxy());
    guarded = cleanup.add(await startTinyproxy({ connectPort: echo.port, user: 'hal', password: 'h-pw' }));
    squid = cleanup.add(await startSquid());
    tls = await startTlsTerminator(tinyproxy.port);
    cleanup.add({ stop: () => tls.close() });
    closedPort = await freePort();
  });
  after(() => cleanup.run());

  /** Runs `socx connect ARGS 127.0.0.1 ECHO`, sends DATA and closes stdin only once all of it is back: HTTP
   * proxies and microsocks close both ways on a half-close. */
  async function echoThrough(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
    const connect = spawnSocx(['connect', ...args, '127.0.0.1', String(echo.port)], { ...NO_PROXY_ENV, ...env });
    try {
      connect.child.stdin.write(DATA);
      await connect.waitForStdout(DATA.length, 30_000);
      connect.child.stdin.end();
      assert.equal(await connect.exited(10_000), 0, connect.stderr());
      assert.equal(connect.stdout().length, DATA.length);
      assert.equal(sha256(connect.stdout()), sha256(DATA), 'echo differs');
      return connect.stderr();
    } finally {
      connect.kill();
    }
  }

  async function fails(args: string[], exit: number, line: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const r = await runSocx(args, { env: { ...NO_PROXY_ENV, ...env }, input: Buffer.from('x') });
    assert.equal(r.code, exit, describeRun(r));
    assertOneErrorLine(r.stderr);
    assert.equal(r.stderr, `socx: ${line}\n`);
  }

  const hops = () => [`socks5h://alice:a-pw@${alice.authority}`, `socks5://bob:b%3Apw@localhost:${bob.port}`, `socks4a://${open.authority}`];

  test('three socx serve hops, a different login on each: 4 MiB each way byte-exact, half-close carried', T, async () => {
    const r = await runSocx(['connect', ...hops().flatMap((url) => ['-x', url]), '127.0.0.1', String(echo.port)], { input: DATA, env: NO_PROXY_ENV, timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(sha256(r.stdout), sha256(DATA), 'echo differs');
    assert.equal(r.stderr, '');
  });

  test('microsocks (login) → Dante → socx serve: byte-exact', T, async () => {
    await echoThrough(['-x', `socks5h://mike:m-pw@127.0.0.1:${microsocks.port}`, '-x', `socks5://127.0.0.1:${dante.port}`, '-x', `socks5h://${open.authority}`]);
  });

  test('tinyproxy → socx serve (login) and socx serve → squid: byte-exact', T, async () => {
    await echoThrough(['-x', `http://127.0.0.1:${tinyproxy.port}`, '-x', `socks5h://alice:a-pw@${alice.authority}`]);
    await echoThrough(['-x', `socks5h://${open.authority}`, '-x', `http://127.0.0.1:${squid.port}`]);
  });

  test('one http:// proxy with Basic credentials (tinyproxy): byte-exact', T, async () => {
    await echoThrough(['-x', `http://hal:h-pw@127.0.0.1:${guarded.port}`]);
  });

  test('https:// (TLS to the proxy) trusted through NODE_EXTRA_CA_CERTS: byte-exact; untrusted: exit 1', T, async () => {
    const trace = await echoThrough(['-v', '-x', `https://localhost:${tls.port}`], { NODE_EXTRA_CA_CERTS: tls.certPath });
    assert.match(trace, /^socx: \* tls TLSv1\.3 with localhost, certificate verified$/m);
    assert.match(trace, new RegExp(`^socx: > http CONNECT 127\\.0\\.0\\.1:${echo.port}$`, 'm'));
    const r = await runSocx(['connect', '-x', `https://localhost:${tls.port}`, '127.0.0.1', String(echo.port)], { env: NO_PROXY_ENV, input: Buffer.from('x') });
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, new RegExp(`^socx: TLS with proxy https://localhost:${tls.port} failed: self-signed certificate \\(a private CA: NODE_EXTRA_CA_CERTS=its-cert\\.pem\\)\\n$`));
  });

  test('hop 2 rejects the login: exit 3, the line names hop 2', T, async () => {
    await fails(['connect', '-x', hops()[0]!, '-x', `socks5h://bob:nope@${bob.authority}`, '127.0.0.1', String(echo.port)], 3,
      `hop 2 (socks5h://${bob.authority}) rejected the username/password for user "bob"`);
  });

  test('hop 3 cannot reach the target: exit 4, "hop 3 (…) refused: connection refused (SOCKS5 reply 0x05)"', T, async () => {
    await fails(['connect', '-x', hops()[0]!, '-x', hops()[1]!, '-x', `socks5h://${open.authority}`, '127.0.0.1', String(closedPort)], 4,
      `hop 3 (socks5h://${open.authority}) refused: connection refused (SOCKS5 reply 0x05)`);
  });

  test('hop 1 unreachable: exit 1', T, async () => {
    await fails(['connect', '-x', `socks5h://127.0.0.1:${closedPort}`, '-x', hops()[0]!, '127.0.0.1', String(echo.port)], 1,
      `Cannot connect to hop 1 (socks5h://127.0.0.1:${closedPort}): connection refused`);
  });

  test('an HTTP proxy that wants a login: 407 → exit 3; a port it refuses: 403 → exit 4', T, async () => {
    await fails(['connect', '-x', `http://127.0.0.1:${guarded.port}`, '127.0.0.1', String(echo.port)], 3,
      'proxy refused authentication: 407 Proxy Authentication Required (HTTP) (it requires a username and password: -U user:pass, or user:pass@ in the URL)');
    await fails(['connect', '-x', `http://127.0.0.1:${guarded.port}`, '-U', 'hal:h-pw', '127.0.0.1', String(echo.port + 1)], 4, 'proxy refused: 403 Access violation (HTTP)');
    await fails(['connect', '-x', `socks5h://${open.authority}`, '-x', `http://127.0.0.1:${guarded.port}`, '127.0.0.1', String(echo.port)], 3,
      `hop 2 (http://127.0.0.1:${guarded.port}) refused authentication: 407 Proxy Authentication Required (HTTP) (it requires a username and password: user:pass@ in the URL)`);
  });

  test('ALL_PROXY and HTTPS_PROXY holding an http:// URL are used by connect (no scheme there means http://)', T, async () => {
    await echoThrough([], { ALL_PROXY: `http://127.0.0.1:${tinyproxy.port}` });
    await echoThrough([], { HTTPS_PROXY: `127.0.0.1:${squid.port}`, https_proxy: `socks5h://127.0.0.1:${closedPort}` });
  });

  test('bind and udp-send cannot use an http:// proxy from the environment: exit 2 naming the variable', T, async () => {
    const url = `http://127.0.0.1:${tinyproxy.port}`;
    await fails(['bind', '0.0.0.0', '0'], 2, `the proxy in $ALL_PROXY: BIND needs a SOCKS proxy: an HTTP proxy (${url}) only tunnels TCP connections (CONNECT); give a SOCKS proxy with -x or $SOCX_PROXY`, { ALL_PROXY: url });
    await fails(['udp-send', '127.0.0.1', String(udpEcho.port), 'x'], 2, `the proxy in $https_proxy: UDP ASSOCIATE needs a SOCKS proxy: an HTTP proxy (${url}) only tunnels TCP connections (CONNECT); give a SOCKS proxy with -x or $SOCX_PROXY`, { https_proxy: url });
    await fails(['udp-send', '-x', url, '127.0.0.1', String(udpEcho.port), 'x'], 2, `UDP ASSOCIATE needs a SOCKS proxy: an HTTP proxy (${url}) only tunnels TCP connections (CONNECT)`);
  });

  test('usage errors: -U with a chain, a chain for udp-send', T, async () => {
    await fails(['connect', '-U', 'a:b', '-x', hops()[0]!, '-x', hops()[2]!, '127.0.0.1', String(echo.port)], 2,
      "with a chain (-x repeated), -U would not say which hop it is for: put each hop's credentials in its URL");
    await fails(['udp-send', '-x', hops()[0]!, '-x', hops()[2]!, '127.0.0.1', String(udpEcho.port), 'x'], 2,
      "a chain of proxies (-x repeated) cannot carry UDP: the datagrams would go straight to the last proxy's relay, past the other hops; give one -x");
  });

  /** The trace with the ports a proxy picks for itself replaced by P. */
  const normalized = (stderr: string): string[] => stderr.trimEnd().split('\n').map((line) => line.replace(/(bnd=|side: |relay |sending from |bound |peer )127\.0\.0\.1:\d+/g, '$1127.0.0.1:P'));

  test('connect -v through a chain: one line per message and hop, no password', T, async () => {
    const stderr = await echoThrough(['-v', '-x', `socks5h://alice:a-pw@${alice.authority}`, '-x', `http://hal:h-pw@127.0.0.1:${guarded.port}`]);
    assert.deepEqual(normalized(stderr), [
      `socx: [hop 1] * connected to ${alice.authority}`,
      'socx: [hop 1] > socks5 greeting methods=none,userpass',
      'socx: [hop 1] < socks5 method userpass',
      'socx: [hop 1] > socks5 auth user=alice',
      'socx: [hop 1] < socks5 auth ok',
      `socx: [hop 1] > socks5 connect 127.0.0.1:${guarded.port}`,
      'socx: [hop 1] < socks5 reply succeeded bnd=127.0.0.1:P',
      `socx: [hop 2] > http CONNECT 127.0.0.1:${echo.port} auth=basic user=hal`,
      'socx: [hop 2] < http 200 Connection established',
      `socx: connected to 127.0.0.1:${echo.port} through socks5h://${alice.authority} -> http://127.0.0.1:${guarded.port} (proxy's side: not reported)`,
    ]);
    assert.doesNotMatch(stderr, /a-pw|h-pw/);
  });

  test('bind -v: the handshake, both replies, then bound and peer', T, async () => {
    const bind = startBind(['-v', '-x', `socks5h://alice:a-pw@${alice.authority}`, '0.0.0.0', '0']);
    try {
      const bound = await bind.line('bound');
      const peer = await connectPeer({ type: 'ipv4', host: bound.host, port: bound.port });
      await bind.line('peer');
      bind.child.stdin?.end();
      peer.socket.end();
      await peer.end();
      assert.equal(await withTimeout(bind.exit, 10_000, 'socx bind to exit'), 0, bind.stderr());
      assert.deepEqual(normalized(bind.stderr()), [
        `socx: * connected to ${alice.authority}`,
        'socx: > socks5 greeting methods=none,userpass',
        'socx: < socks5 method userpass',
        'socx: > socks5 auth user=alice',
        'socx: < socks5 auth ok',
        'socx: > socks5 bind 0.0.0.0:0',
        'socx: < socks5 reply succeeded bnd=127.0.0.1:P',
        'socx: bound 127.0.0.1:P',
        'socx: < socks5 second reply succeeded bnd=127.0.0.1:P',
        'socx: peer 127.0.0.1:P',
      ]);
    } finally {
      bind.stop();
    }
  });

  test('udp-send -v: the handshake, then the association and the reply', T, async () => {
    const r = await runSocx(['udp-send', '-v', '-x', `socks5h://${open.authority}`, '127.0.0.1', String(udpEcho.port), 'ping'], { env: NO_PROXY_ENV });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout.toString(), 'ping');
    assert.deepEqual(normalized(r.stderr).map((line) => line.replace(/announced [^)]+/, 'announced A')), [
      `socx: * connected to ${open.authority}`,
      'socx: > socks5 greeting methods=none',
      'socx: < socks5 method none',
      'socx: > socks5 udp-associate 0.0.0.0:0',
      'socx: < socks5 reply succeeded bnd=127.0.0.1:P',
      `socx: UDP association through socks5h://${open.authority}: relay 127.0.0.1:P, sending from 127.0.0.1:P (announced A)`,
      `socx: reply 1: 4 bytes from 127.0.0.1:${udpEcho.port}`,
    ]);
  });

  test('--help: the schemes and credentials each command can use; connect and bind say -x repeats for a chain, udp-send does not', T, async () => {
    const fallback = 'else the first of $SOCX_PROXY, $ALL_PROXY, $all_proxy, $HTTPS_PROXY, $https_proxy, then socks5h://127.0.0.1:1080';
    const expected = {
      connect: [
        `Proxy URL: socks5h://, socks5://, socks4a://, socks4://, http://, https:// [user:pass@]host[:port]; repeat for a chain, first hop first; ${fallback}`,
        'Credentials for the proxy (SOCKS5 username/password, SOCKS4 USERID, HTTP Basic); with a chain, give each hop its own in its URL',
      ],
      bind: [
        `Proxy URL: socks5h://, socks5://, socks4a://, socks4:// [user:pass@]host[:port]; repeat for a chain, first hop first (the hops before the last may also be http:// or https://); ${fallback}`,
        'Credentials for the proxy (SOCKS5 username/password, SOCKS4 USERID); with a chain, give each hop its own in its URL',
      ],
      'udp-send': [
        `Proxy URL: socks5h://, socks5:// [user:pass@]host[:port]; ${fallback}`,
        'Credentials for the proxy (SOCKS5 username/password)',
      ],
    };
    for (const [command, [proxy, user]] of Object.entries(expected)) {
      const r = await runSocx([command, '--help'], { env: NO_PROXY_ENV });
      const help = r.stdout.toString();
      const described = (flag: string): string | undefined => new RegExp(`^  ${flag} +(.+?) *$`, 'm').exec(help)?.[1];
      assert.equal(described('-x, --proxy <url>'), proxy, command);
      assert.equal(described('-U, --proxy-user <user:pass>'), user, command);
    }
    // What udp-send and bind no longer list is what they refuse.
    for (const [command, url] of [['udp-send', 'socks4://127.0.0.1:1'], ['udp-send', 'http://127.0.0.1:1'], ['bind', 'https://127.0.0.1:1']] as const) {
      const r = await runSocx([command, '-x', url, '127.0.0.1', '7'], { env: NO_PROXY_ENV });
      assert.equal(r.code, 2, describeRun(r));
    }
  });
});
