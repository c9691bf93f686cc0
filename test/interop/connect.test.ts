// The built `socx connect` (nc-style) as a SOCKS client of microsocks, Dante and `socx serve`: 8 MiB each
// way with half-close (stdin EOF travels to the echo server, which then ends), then the contract's exit codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { startDante, startEchoServer, startMicrosocks, type Peer } from '../support/peers.ts';
import { freePort } from '../support/process.ts';
import {
  assertOneErrorLine,
  Cleanup,
  describeRun,
  NO_PROXY_ENV,
  runSocx,
  sha256,
  spawnSocx,
  startSocxServe,
  waitForOutput,
  type SocxServer,
} from './socx.ts';

const T = { timeout: 40_000 };
const DATA = randomBytes(8 * 1024 * 1024);
const DATA_SHA = sha256(DATA);

describe('socx connect', () => {
  const cleanup = new Cleanup();
  let echo: Peer;
  let serve: SocxServer;
  let authed: SocxServer;
  let microsocks: Peer;
  let dante: Peer & { output(): string };
  /** A loopback port with nothing listening (freePort is racy, but nothing here listens on it). */
  let closedPort: number;

  before(async () => {
    echo = cleanup.add(await startEchoServer());
    serve = cleanup.add(await startSocxServe());
    authed = cleanup.add(await startSocxServe(['-q', '--auth', 'u@x:p:ss']));
    microsocks = cleanup.add(await startMicrosocks());
    dante = cleanup.add(await startDante());
    closedPort = await freePort();
  });
  after(() => cleanup.run());

  async function echo8MiB(proxyUrl: string, targetHost = '127.0.0.1', peerOutput = ''): Promise<void> {
    const r = await runSocx(['connect', '-x', proxyUrl, targetHost, String(echo.port)], {
      input: DATA,
      env: NO_PROXY_ENV,
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, describeRun(r, peerOutput));
    assert.equal(r.stdout.length, DATA.length, describeRun(r, peerOutput));
    assert.equal(sha256(r.stdout), DATA_SHA, 'echo differs');
    assert.equal(r.stderr, '', 'connect printed on stderr without -v');
  }

  describe('8 MiB each way, byte-exact, half-close', () => {
    test('through microsocks, socks5h:// (stdin closed only once the echo is back)', T, async () => {
      // microsocks cannot half-close: on EOF from either side its copy loop closes both connections, so
      // the echo still in flight after our stdin EOF is lost (ncat through microsocks loses it too).
      // Here stdin stays open until all 8 MiB came back; then EOF, and connect must exit 0.
      const connect = spawnSocx(['connect', '-x', `socks5h://127.0.0.1:${microsocks.port}`, '127.0.0.1', String(echo.port)], NO_PROXY_ENV);
      try {
        connect.child.stdin.write(DATA);
        await connect.waitForStdout(DATA.length, 20_000);
        connect.child.stdin.end();
        assert.equal(await connect.exited(10_000), 0, connect.stderr());
        assert.equal(connect.stdout().length, DATA.length);
        assert.equal(sha256(connect.stdout()), DATA_SHA, 'echo differs');
        assert.equal(connect.stderr(), '');
      } finally {
        connect.kill();
      }
    });
    test('through Dante, socks5h://', T, async () => {
      await echo8MiB(`socks5h://127.0.0.1:${dante.port}`, '127.0.0.1', dante.output());
    });
    test('through Dante, socks4://', T, async () => {
      await echo8MiB(`socks4://127.0.0.1:${dante.port}`, '127.0.0.1', dante.output());
    });
    test('through socx serve, socks5h:// to a name (ATYP 03, resolved by serve)', T, async () => {
      await echo8MiB(`socks5h://${serve.authority}`, 'localhost', serve.output());
      await waitForOutput(serve, new RegExp(`\\n\\d{4}-\\S+Z \\S+ socks5 connect localhost:${echo.port} ok up=8\\.0MiB down=8\\.0MiB `));
    });
    test('through socx serve, socks4://', T, async () => {
      await echo8MiB(`socks4://${serve.authority}`, '127.0.0.1', serve.output());
    });
    test('through socx serve, socks4a:// to a name', T, async () => {
      await echo8MiB(`socks4a://${serve.authority}`, 'localhost', serve.output());
      await waitForOutput(serve, new RegExp(`\\n\\d{4}-\\S+Z \\S+ socks4 connect localhost:${echo.port} ok up=8\\.0MiB down=8\\.0MiB `));
    });
    test('through socx serve --auth, credentials in the URL (percent-decoded) and with -U', T, async () => {
      await echo8MiB(`socks5h://u%40x:p%3Ass@${authed.authority}`, '127.0.0.1', authed.output());
      const r = await runSocx(['connect', '-x', `socks5h://${authed.authority}`, '-U', 'u@x:p:ss', '127.0.0.1', String(echo.port)], {
        input: Buffer.from('with -U'),
        env: NO_PROXY_ENV,
      });
      assert.equal(r.code, 0, describeRun(r, authed.output()));
      assert.equal(r.stdout.toString(), 'with -U');
    });
  });

  test('the remote side closes first, stdin still open (a socketpair, as node spawns it): the upload goes on, stdin EOF ends it, exit 0', T, async () => {
    // A target that greets and half-closes at once, then keeps reading: every byte still reaches it, and
    // connect exits 0 once its stdin ends too (the contract: each direction ends on its own).
    let received = '';
    let ended: () => void = () => {};
    const gotAll = new Promise<void>((resolve) => { ended = resolve; });
    const target = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.on('data', (b: Buffer) => { received += b.toString(); });
      s.on('end', () => { s.destroy(); ended(); });
      s.end('bye\n');
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const port = (target.address() as net.AddressInfo).port;
    const connect = spawnSocx(['connect', '-x', `socks5h://${serve.authority}`, '127.0.0.1', String(port)], NO_PROXY_ENV);
    try {
      await connect.waitForStdout(4, 5_000);
      assert.equal(connect.stdout().toString(), 'bye\n');
      connect.child.stdin.write('after the ');
      connect.child.stdin.end('remote EOF');
      assert.equal(await connect.exited(5_000), 0, connect.stderr());
      await gotAll;
      assert.equal(received, 'after the remote EOF');
      assert.equal(connect.stderr(), '');
    } finally {
      connect.kill();
      await new Promise<void>((resolve) => target.close(() => resolve()));
    }
  });

  describe('exit codes', () => {
    const connect = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      runSocx(['connect', ...args], { input: Buffer.from('ping'), env: { ...NO_PROXY_ENV, ...env }, timeoutMs: 20_000 });

    test('proxy unreachable (closed port) -> 1, one line naming the proxy, no stack trace', T, async () => {
      const r = await connect(['-x', `socks5h://127.0.0.1:${closedPort}`, '127.0.0.1', String(echo.port)]);
      assert.equal(r.code, 1, describeRun(r));
      assertOneErrorLine(r.stderr);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${closedPort}`), 'the message names the proxy');
      assert.match(r.stderr, /refused/);
      assert.equal(r.stdout.length, 0);
    });

    test('target refused through socx serve -> 4, "connection refused (SOCKS5 reply 0x05)"', T, async () => {
      const r = await connect(['-x', `socks5h://${serve.authority}`, '127.0.0.1', String(closedPort)]);
      assert.equal(r.code, 4, describeRun(r));
      assertOneErrorLine(r.stderr);
      assert.match(r.stderr, /connection refused \(SOCKS5 reply 0x05\)/);
    });

    test('target refused through microsocks -> 4, SOCKS5 reply 0x05', T, async () => {
      const r = await connect(['-x', `socks5h://127.0.0.1:${microsocks.port}`, '127.0.0.1', String(closedPort)]);
      assert.equal(r.code, 4, describeRun(r));
      assertOneErrorLine(r.stderr);
      assert.match(r.stderr, /connection refused \(SOCKS5 reply 0x05\)/);
    });

    test('target refused over socks4:// -> 4, SOCKS4 reply 0x5b', T, async () => {
      const r = await connect(['-x', `socks4://${serve.authority}`, '127.0.0.1', String(closedPort)]);
      assert.equal(r.code, 4, describeRun(r));
      assertOneErrorLine(r.stderr);
      assert.match(r.stderr, /\(SOCKS4 reply 0x5b\)/);
    });

    test('wrong credentials against serve --auth -> 3', T, async () => {
      const r = await connect(['-x', `socks5h://u%40x:wrong@${authed.authority}`, '127.0.0.1', String(echo.port)]);
      assert.equal(r.code, 3, describeRun(r));
      assertOneErrorLine(r.stderr);
      assert.doesNotMatch(r.stderr, /wrong/, 'the password must not be printed');
    });

    test('no credentials against serve --auth (no acceptable method) -> 3', T, async () => {
      const r = await connect(['-x', `socks5h://${authed.authority}`, '127.0.0.1', String(echo.port)]);
      assert.equal(r.code, 3, describeRun(r));
      assertOneErrorLine(r.stderr);
    });

    const usage: Array<[string, string[]]> = [
      ['unsupported scheme -x ftp://x', ['-x', 'ftp://x', '127.0.0.1', '80']],
      ['port 70000', ['-x', 'socks5h://127.0.0.1:1', '127.0.0.1', '70000']],
      ['port "http"', ['-x', 'socks5h://127.0.0.1:1', '127.0.0.1', 'http']],
      ['port 0', ['-x', 'socks5h://127.0.0.1:1', '127.0.0.1', '0']],
      ['missing port', ['-x', 'socks5h://127.0.0.1:1', '127.0.0.1']],
      ['unknown option', ['--no-such-option', '127.0.0.1', '80']],
    ];
    for (const [name, args] of usage) {
      test(`usage error (${name}) -> 2, one line`, T, async () => {
        const r = await connect(args);
        assert.equal(r.code, 2, describeRun(r));
        assertOneErrorLine(r.stderr);
        assert.equal(r.stdout.length, 0);
      });
    }
  });

  describe('proxy from the environment when -x is absent', () => {
    const ping = (env: NodeJS.ProcessEnv, args: string[] = []) =>
      runSocx(['connect', ...args, '127.0.0.1', String(echo.port)], {
        input: Buffer.from('via-env'),
        env: { ...NO_PROXY_ENV, ...env },
        timeoutMs: 20_000,
      });
    const closed = () => `socks5h://127.0.0.1:${closedPort}`;

    test('SOCX_PROXY is used', T, async () => {
      const r = await ping({ SOCX_PROXY: `socks5h://${serve.authority}` });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stdout.toString(), 'via-env');
    });

    test('ALL_PROXY is used, and all_proxy', T, async () => {
      for (const name of ['ALL_PROXY', 'all_proxy']) {
        const r = await ping({ [name]: `socks5://${serve.authority}` });
        assert.equal(r.code, 0, `${name}: ${describeRun(r)}`);
        assert.equal(r.stdout.toString(), 'via-env');
      }
    });

    test('SOCX_PROXY wins over ALL_PROXY', T, async () => {
      const r = await ping({ SOCX_PROXY: `socks5h://${serve.authority}`, ALL_PROXY: closed() });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stdout.toString(), 'via-env');
    });

    test('-x wins over SOCX_PROXY', T, async () => {
      const r = await ping({ SOCX_PROXY: closed() }, ['-x', `socks5h://${serve.authority}`]);
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stdout.toString(), 'via-env');
    });

    test('SOCX_PROXY really is the one dialled (a closed port there -> exit 1)', T, async () => {
      const r = await ping({ SOCX_PROXY: closed() });
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, new RegExp(`:${closedPort}`));
    });

    test('ALL_PROXY holding an http:// URL is not skipped: it is the one dialled (a closed port there -> exit 1)', T, async () => {
      const r = await ping({ ALL_PROXY: `http://127.0.0.1:${closedPort}` });
      assert.equal(r.code, 1, describeRun(r));
      assert.equal(r.stderr, `socx: Cannot connect to proxy 127.0.0.1:${closedPort}: connection refused\n`);
    });

    test('ALL_PROXY comes before https_proxy (a machine-wide HTTP proxy does not take over)', T, async () => {
      const r = await ping({ ALL_PROXY: `socks5h://${serve.authority}`, https_proxy: closed() });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stdout.toString(), 'via-env');
    });
  });
});
