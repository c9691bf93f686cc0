/** `socx bind` ↔ `socx serve`, both the built executable: SOCKS4/4a/5, with and without authentication, IPv4
 * and IPv6; a peer connects to the announced address, data flows byte-exact both ways, half-close travels
 * both ways; each refusal gives its exit code and leaves no listening port behind. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Collector, connectTo } from '../helpers/net.ts';
import { assertNotListening } from './helpers.ts';
import { exitOf, runSocx, startBind, startServe, waitForLog, type BindProcess, type Served } from './cli.ts';

const T = { timeout: 30_000 };

async function connectPeerTo(bind: BindProcess): Promise<{ peer: Collector; bound: { host: string; port: number } }> {
  const bound = await bind.line('bound');
  return { peer: new Collector(await connectTo(bound.host, bound.port)), bound };
}

/** The one-line error the contract asks for. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter((line) => line !== '');
  assert.match(lines.at(-1) ?? '', pattern, stderr);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
}

describe('socx bind ↔ socx serve', () => {
  const servers = new Map<string, Served>();
  const server = (name: string): Served => {
    const s = servers.get(name);
    if (!s) throw new Error(name);
    return s;
  };
  before(async () => {
    servers.set('v4', await startServe('127.0.0.1'));
    servers.set('v6', await startServe('::1'));
    servers.set('v4-auth', await startServe('127.0.0.1', ['--auth', 'alice:wonder land']));
    servers.set('v6-auth', await startServe('::1', ['--auth', 'alice:wonder land']));
  });
  after(async () => {
    for (const s of servers.values()) await s.stop();
  });

  const cases = [
    { name: 'socks5, IPv4', server: 'v4', scheme: 'socks5', peer: '127.0.0.1', auth: [] },
    { name: 'socks5h, IPv4, username/password (-U)', server: 'v4-auth', scheme: 'socks5h', peer: '127.0.0.1', auth: ['-U', 'alice:wonder land'] },
    { name: 'socks5, IPv6', server: 'v6', scheme: 'socks5', peer: '::1', auth: [] },
    { name: 'socks5h, IPv6, username/password (in the URL)', server: 'v6-auth', scheme: 'socks5h', peer: '::1', auth: [], userinfo: 'alice:wonder%20land@' },
    { name: 'socks4, IPv4', server: 'v4', scheme: 'socks4', peer: '127.0.0.1', auth: [] },
    { name: 'socks4a, IPv4, peer given by name', server: 'v4', scheme: 'socks4a', peer: 'localhost', auth: [] },
  ];
  for (const c of cases) {
    test(`${c.name}: bound/peer lines, 256 KiB each way byte-exact; stdin EOF reaches the peer, which still answers`, T, async () => {
      const s = server(c.server);
      const bind = startBind(['-x', `${c.scheme}://${c.userinfo ?? ''}${s.authority}`, ...c.auth, c.peer, '0']);
      try {
        const { peer, bound } = await connectPeerTo(bind);
        const peerPort = peer.socket.localPort;
        assert.equal(bound.host, s.host, 'the peer is sent to the address the client reached the proxy on');
        assert.deepEqual(await bind.line('peer'), { host: s.host, port: peerPort });
        const up = randomBytes(256 * 1024);
        const down = randomBytes(256 * 1024);
        bind.child.stdin?.end(up);
        assert.ok((await peer.end(10_000)).equals(up), 'the peer got stdin byte-exact, then EOF');
        peer.socket.end(down);
        assert.equal(await exitOf(bind), 0, bind.stderr());
        assert.ok(bind.stdout().equals(down), 'stdout is the peer\'s bytes, byte-exact');
        assert.equal(bind.stderr(), `socx: bound ${bound.host.includes(':') ? `[${bound.host}]` : bound.host}:${bound.port}\nsocx: peer ${s.authority.replace(/:\d+$/, '')}:${peerPort}\n`);
        await assertNotListening(bound.host, bound.port);
        await waitForLog(s, new RegExp(`bind .* ok up=256\\.0KiB down=256\\.0KiB .*peer=`));
      } finally {
        bind.stop();
      }
    });
  }

  test('the peer half-closes first: its bytes reach stdout, the upload still reaches the peer, and socx bind exits 0 after stdin EOF', T, async () => {
    const bind = startBind(['-x', `socks5://${server('v4').authority}`, '127.0.0.1', '0']);
    try {
      const { peer } = await connectPeerTo(bind);
      await bind.line('peer');
      peer.socket.end('the peer is done');
      bind.child.stdin?.write('still sending');
      assert.equal((await peer.take(13)).toString(), 'still sending');
      assert.equal(bind.child.exitCode, null, 'the upload is not over: socx bind must still run');
      bind.child.stdin?.end(' and done');
      assert.equal((await peer.end()).toString(), ' and done');
      assert.equal(await exitOf(bind), 0, bind.stderr());
      assert.equal(bind.stdout().toString(), 'the peer is done');
    } finally {
      bind.stop();
    }
  });

  test('--json: one JSON object a line on stderr for bound and peer', T, async () => {
    const bind = startBind(['-x', `socks5://${server('v4').authority}`, '--json', '0.0.0.0', '0']);
    try {
      const { peer, bound } = await connectPeerTo(bind);
      const peerPort = peer.socket.localPort;
      await bind.line('peer');
      peer.socket.end();
      bind.child.stdin?.end();
      assert.equal(await exitOf(bind), 0, bind.stderr());
      const events = bind.stderr().trim().split('\n').map((line) => JSON.parse(line) as unknown);
      assert.deepEqual(events, [
        { event: 'bound', host: '127.0.0.1', port: bound.port },
        { event: 'peer', host: '127.0.0.1', port: peerPort },
      ]);
    } finally {
      bind.stop();
    }
  });

  test('SOCKS4 BIND to a server reached over IPv6: refused (0x5B), exit 4', T, async () => {
    const r = await runSocx(['bind', '-x', `socks4://${server('v6').authority}`, '0.0.0.0', '0']);
    assert.equal(r.code, 4, r.stderr);
    assertOneLine(r.stderr, /^socx: proxy refused: request rejected or failed \(SOCKS4 reply 0x5b\)$/);
  });
});

describe('socx bind refusals', () => {
  test('a peer from another IP than HOST: exit 4 naming reply 0x02 (SOCKS5) / 0x5B (SOCKS4); the peer is closed, the port freed', T, async () => {
    const s = await startServe('127.0.0.1');
    try {
      for (const [scheme, reply] of [['socks5', 'connection not allowed by ruleset \\(SOCKS5 reply 0x02\\)'], ['socks4', 'request rejected or failed \\(SOCKS4 reply 0x5b\\)']] as const) {
        const bind = startBind(['-x', `${scheme}://${s.authority}`, '127.0.0.2', '0']);
        try {
          const { peer, bound } = await connectPeerTo(bind);
          assert.equal(await exitOf(bind), 4, bind.stderr());
          assertOneLine(bind.stderr(), new RegExp(`^socx: proxy refused: ${reply}$`));
          await peer.end();
          assert.equal(peer.all.length, 0);
          await assertNotListening(bound.host, bound.port);
        } finally {
          bind.stop();
        }
      }
    } finally {
      await s.stop();
    }
  });

  test('serve --bind-timeout 1: no peer → exit 4 "TTL expired (SOCKS5 reply 0x06)" after about 1 s, port freed', T, async () => {
    const s = await startServe('127.0.0.1', ['--bind-timeout', '1']);
    const bind = startBind(['-x', `socks5://${s.authority}`, '0.0.0.0', '0']);
    try {
      const bound = await bind.line('bound');
      const started = performance.now();
      assert.equal(await exitOf(bind), 4, bind.stderr());
      const elapsed = performance.now() - started;
      assert.ok(elapsed > 700 && elapsed < 3000, `${elapsed} ms`);
      assertOneLine(bind.stderr(), /^socx: proxy refused: TTL expired \(SOCKS5 reply 0x06\)$/);
      await assertNotListening(bound.host, bound.port, 0);
      await waitForLog(s, /bind .*TTL expired \(no peer connected within 1 s\)/);
    } finally {
      bind.stop();
      await s.stop();
    }
  });

  test('socx bind --wait 1: no peer before the deadline → exit 1; the server cancels and frees the port', T, async () => {
    const s = await startServe('127.0.0.1');
    const bind = startBind(['-x', `socks5://${s.authority}`, '--wait', '1', '0.0.0.0', '0']);
    try {
      const bound = await bind.line('bound');
      assert.equal(await exitOf(bind), 1, bind.stderr());
      assertOneLine(bind.stderr(), new RegExp(`^socx: no peer connected to 127\\.0\\.0\\.1:${bound.port} within 1 s$`));
      await waitForLog(s, /bind .*client closed the connection before a peer connected/);
      await assertNotListening(bound.host, bound.port, 0);
    } finally {
      bind.stop();
      await s.stop();
    }
  });

  test('the control connection closing while waiting (socx bind killed) cancels the BIND and frees the port', T, async () => {
    const s = await startServe('127.0.0.1');
    const bind = startBind(['-x', `socks5://${s.authority}`, '0.0.0.0', '0']);
    try {
      const bound = await bind.line('bound');
      bind.child.kill('SIGTERM');
      await exitOf(bind);
      await waitForLog(s, /bind .*client closed the connection before a peer connected/);
      await assertNotListening(bound.host, bound.port, 0);
    } finally {
      bind.stop();
      await s.stop();
    }
  });

  test('serve --no-bind: exit 4 "command not supported (SOCKS5 reply 0x07)"; SOCKS4 gets 0x5B', T, async () => {
    const s = await startServe('127.0.0.1', ['--no-bind']);
    try {
      const r5 = await runSocx(['bind', '-x', `socks5://${s.authority}`, '0.0.0.0', '0']);
      assert.equal(r5.code, 4, r5.stderr);
      assertOneLine(r5.stderr, /^socx: proxy refused: command not supported \(SOCKS5 reply 0x07\)$/);
      const r4 = await runSocx(['bind', '-x', `socks4://${s.authority}`, '0.0.0.0', '0']);
      assert.equal(r4.code, 4, r4.stderr);
      assertOneLine(r4.stderr, /^socx: proxy refused: request rejected or failed \(SOCKS4 reply 0x5b\)$/);
    } finally {
      await s.stop();
    }
  });

  test('wrong credentials: exit 3', T, async () => {
    const s = await startServe('127.0.0.1', ['--auth', 'alice:right']);
    try {
      const r = await runSocx(['bind', '-x', `socks5://alice:wrong@${s.authority}`, '0.0.0.0', '0']);
      assert.equal(r.code, 3, r.stderr);
    } finally {
      await s.stop();
    }
  });
});

describe('socx bind usage', () => {
  for (const [args, pattern] of [
    [['127.0.0.1'], /missing required args/i],
    [['127.0.0.1', '70000'], /bad port "70000"/],
    [['127.0.0.1', '0', '--wait', '0'], /--wait must be from 1ms to 1h/],
    [['127.0.0.1', '0', '-x', 'http://127.0.0.1:1'], /^socx: BIND needs a SOCKS proxy: an HTTP proxy \(http:\/\/127\.0\.0\.1:1\) only tunnels TCP connections \(CONNECT\)$/],
  ] as const) {
    test(`socx bind ${args.join(' ')} → exit 2, one line`, T, async () => {
      const r = await runSocx(['bind', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assertOneLine(r.stderr, pattern);
    });
  }

  test('an unreachable proxy → exit 1', T, async () => {
    const r = await runSocx(['bind', '-x', 'socks5://127.0.0.1:1', '0.0.0.0', '0']);
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(r.stderr, /^socx: Cannot connect to proxy 127\.0\.0\.1:1: connection refused$/);
  });

  test('serve --advertise 0.0.0.0 → exit 2 (the announced address must be reachable)', T, async () => {
    const r = await runSocx(['serve', '-l', '127.0.0.1:0', '--advertise', '0.0.0.0']);
    assert.equal(r.code, 2, r.stderr);
  });

  test('--help lists every option with its default', T, async () => {
    const bind = await runSocx(['bind', '--help']);
    assert.equal(bind.code, 0);
    for (const option of ['--proxy', '--proxy-user', '--timeout <duration, bare = ms>', '--wait <duration, bare = s>', '(default: 120s)', '--json', 'no peer before the deadline is exit 1']) {
      assert.ok(bind.stdout.toString().includes(option), `bind --help lacks ${option}`);
    }
    const serve = await runSocx(['serve', '--help']);
    for (const option of ['--no-bind', '--bind-timeout <duration, bare = s>', '(default: 60s)']) {
      assert.ok(serve.stdout.toString().includes(option), `serve --help lacks ${option}`);
    }
  });
});
