/** The built `socx connect`, `socx bind` and `socx udp-send` against scripted servers (issue 11): a remote
 * that half-closes first still gets every byte; resets from the proxy, while downloading or uploading, are
 * exit 1 "connection reset"; error replies cut short keep their code; the 7-byte reply with data behind it;
 * BIND on port 0; an HTTP server; udp-send's usage errors. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hex, startRogue, withTimeout, type RoguePeer, type RogueServer } from '../helpers/net.ts';
import { assertOneErrorLine, describeRun, NO_PROXY_ENV, runSocx, socxBinary, spawnSocx, type Interactive } from '../interop/socx.ts';

const T = { timeout: 30_000 };
const TARGET = ['127.0.0.1', '9'];
/** The CONNECT request socx sends for TARGET: 05 01 00 01 7f000001 0009. */
const REQUEST_LENGTH = 10;
const GRANTED = hex('05 00 00 01 7f000001 1f90');
const FOUR_MIB = 4 * 1024 * 1024;

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

async function withRogue(script: (peer: RoguePeer) => Promise<void> | void, body: (rogue: RogueServer) => Promise<void>): Promise<void> {
  const rogue = await startRogue(script);
  try {
    await body(rogue);
    assert.deepEqual(rogue.errors, [], 'the scripted server failed');
  } finally {
    await rogue.close();
  }
}

/** Greeting (no auth) and the request answered with `reply`. */
async function handshake(peer: RoguePeer, reply: Buffer = GRANTED): Promise<void> {
  await peer.input.take(3);
  peer.socket.write(hex('05 00'));
  await peer.input.take(REQUEST_LENGTH);
  peer.socket.write(reply);
}

const url = (rogue: RogueServer): string => `socks5h://127.0.0.1:${rogue.port}`;

/** Feeds `data` to a spawned socx's stdin honouring backpressure, and leaves it open unless `end`. */
async function feed(proc: Interactive, data: Buffer, end: boolean): Promise<void> {
  const stdin = proc.child.stdin;
  for (let at = 0; at < data.length && !stdin.destroyed; at += 64 * 1024) {
    if (!stdin.write(data.subarray(at, at + 64 * 1024))) await new Promise((resolve) => { stdin.once('drain', resolve); stdin.once('close', resolve); });
  }
  if (end) stdin.end();
}

function assertReset(code: number | null, stderr: string): void {
  assert.equal(code, 1, stderr);
  assertOneErrorLine(stderr);
  assert.match(stderr, /connection reset/);
}

describe('socx connect: each direction ends on its own', () => {
  test('the remote half-closes at once: 4 MiB of upload still arrive byte-exact, exit 0 after stdin EOF', T, async () => {
    const up = randomBytes(FOUR_MIB);
    await withRogue(async (peer) => {
      await handshake(peer, Buffer.concat([GRANTED, Buffer.from('ready\n')]));
      peer.socket.end();
    }, async (rogue) => {
      const r = await runSocx(['connect', '-x', url(rogue), ...TARGET], { input: up, env: NO_PROXY_ENV });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stdout.toString(), 'ready\n');
      assert.equal(r.stderr, '');
      const peer = await rogue.peer(0);
      await peer.input.end(10_000);
      const got = peer.input.all.subarray(3 + REQUEST_LENGTH);
      assert.equal(got.length, up.length);
      assert.equal(sha(got), sha(up));
    });
  });

  test('stdin EOF first (socx half-closes): a 4 MiB download still arrives byte-exact, exit 0', T, async () => {
    const down = randomBytes(FOUR_MIB);
    await withRogue(async (peer) => {
      await handshake(peer);
      await peer.input.end();
      peer.socket.end(down);
    }, async (rogue) => {
      const r = await runSocx(['connect', '-x', url(rogue), ...TARGET], { input: Buffer.alloc(0), env: NO_PROXY_ENV });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stdout.length, down.length);
      assert.equal(sha(r.stdout), sha(down));
    });
  });
});

describe('socx connect: the remote\'s EOF reaches the reader of stdout while stdin stays open', () => {
  test('the remote sends a banner and closes: a pipe reader (as ssh runs a ProxyCommand) sees the end at once', T, async () => {
    await withRogue(async (peer) => {
      await handshake(peer, Buffer.concat([GRANTED, Buffer.from('SSH-2.0-Fake\r\n')]));
      peer.socket.end();
    }, async (rogue) => {
      // A real pipe to cat (spawn's own stdio are socketpairs, which a shutdown ends); cat's EOF prints END.
      const shell = spawn('sh', ['-c', '"$0" "$@" | { cat; echo END >&2; }', socxBinary(), 'connect', '-x', url(rogue), ...TARGET], { env: { ...process.env, ...NO_PROXY_ENV } });
      let stdout = '';
      let stderr = '';
      shell.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
      const ended = new Promise<void>((resolve) => shell.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; if (stderr.includes('END')) resolve(); }));
      const exited = new Promise<number | null>((resolve) => shell.once('exit', resolve));
      try {
        await withTimeout(ended, 10_000, 'the end of the pipe, with stdin still open');
        assert.equal(stdout, 'SSH-2.0-Fake\r\n');
      } finally {
        // stdin's EOF ends socx (the remote is gone), then cat: the whole pipeline, pass or fail.
        shell.stdin.end();
      }
      assert.equal(await withTimeout(exited, 10_000, 'the exit after stdin EOF'), 0, stderr);
      assert.equal(stderr, 'END\n');
    });
  });
});

describe('socx connect: a reset is exit 1 "connection reset", never a clean exit on truncated data', () => {
  test('the proxy resets while socx downloads', T, async () => {
    await withRogue(async (peer) => {
      await handshake(peer);
      await new Promise<void>((resolve) => peer.socket.write(randomBytes(256 * 1024), () => resolve()));
      peer.socket.resetAndDestroy();
    }, async (rogue) => {
      const connect = spawnSocx(['connect', '-x', url(rogue), ...TARGET], NO_PROXY_ENV);
      try {
        assertReset(await connect.exited(10_000), connect.stderr());
      } finally {
        connect.kill();
      }
    });
  });

  test('the proxy resets while socx uploads', T, async () => {
    await withRogue(async (peer) => {
      await handshake(peer);
      await peer.input.take(64 * 1024, 10_000);
      peer.socket.resetAndDestroy();
    }, async (rogue) => {
      const connect = spawnSocx(['connect', '-x', url(rogue), ...TARGET], NO_PROXY_ENV);
      try {
        await feed(connect, randomBytes(FOUR_MIB), false);
        assertReset(await connect.exited(10_000), connect.stderr());
      } finally {
        connect.kill();
      }
    });
  });

  test('the remote half-closes, then resets while socx still uploads (the case that used to exit 0)', T, async () => {
    await withRogue(async (peer) => {
      await handshake(peer);
      peer.socket.end();
      await peer.input.take(64 * 1024, 10_000);
      peer.socket.resetAndDestroy();
    }, async (rogue) => {
      const connect = spawnSocx(['connect', '-x', url(rogue), ...TARGET], NO_PROXY_ENV);
      try {
        await feed(connect, randomBytes(FOUR_MIB), false);
        assertReset(await connect.exited(10_000), connect.stderr());
      } finally {
        connect.kill();
      }
    });
  });
});

describe('socx connect: odd replies', () => {
  for (const [bytes, line] of [
    ['05 05', 'socx: proxy refused: connection refused (SOCKS5 reply 0x05, short reply)'],
    ['05 07 00 01', 'socx: proxy refused: command not supported (SOCKS5 reply 0x07, short reply)'],
  ] as const) {
    test(`a ${hex(bytes).length}-byte error reply (${bytes}), then close: exit 4, "${line}"`, T, async () => {
      await withRogue(async (peer) => {
        await peer.input.take(3);
        peer.socket.write(hex('05 00'));
        await peer.input.take(REQUEST_LENGTH);
        peer.socket.end(hex(bytes));
      }, async (rogue) => {
        const r = await runSocx(['connect', '-x', url(rogue), ...TARGET], { env: NO_PROXY_ENV });
        assert.equal(r.code, 4, describeRun(r));
        assert.equal(r.stderr, `${line}\n`);
      });
    });
  }

  test('SOCKS4: 00 5b, then close: exit 4', T, async () => {
    await withRogue(async (peer) => { await peer.input.take(9); peer.socket.end(hex('00 5b')); }, async (rogue) => {
      const r = await runSocx(['connect', '-x', `socks4://127.0.0.1:${rogue.port}`, ...TARGET], { env: NO_PROXY_ENV });
      assert.equal(r.code, 4, describeRun(r));
      assert.equal(r.stderr, 'socx: proxy refused: request rejected or failed (SOCKS4 reply 0x5b, short reply)\n');
    });
  });

  test('the 7-byte reply 05 00 00 03 00 00 00 with data right behind it: the data reaches stdout, exit 0', T, async () => {
    await withRogue(async (peer) => {
      await handshake(peer, Buffer.concat([hex('05 00 00 03 00 0000'), Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')]));
      peer.socket.end();
    }, async (rogue) => {
      const r = await runSocx(['connect', '-x', url(rogue), ...TARGET], { env: NO_PROXY_ENV });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stdout.toString(), 'SSH-2.0-OpenSSH_9.2\r\n');
    });
  });

  test('a TCP echo server: exit 1, "came back unchanged", for SOCKS5 with and without credentials and for SOCKS4', T, async () => {
    await withRogue((peer) => { peer.socket.on('data', (chunk: Buffer) => peer.socket.write(chunk)); }, async (rogue) => {
      for (const proxy of [url(rogue), `socks5h://alice:s3cret@127.0.0.1:${rogue.port}`, `socks4://127.0.0.1:${rogue.port}`]) {
        const r = await runSocx(['connect', '-x', proxy, ...TARGET], { env: NO_PROXY_ENV });
        assert.equal(r.code, 1, describeRun(r));
        const [scheme, what] = proxy.startsWith('socks4') ? ['socks4', 'SOCKS4 request'] : ['socks5h', 'SOCKS5 greeting'];
        assert.equal(r.stderr, `socx: ${scheme}://127.0.0.1:${rogue.port} does not speak ${scheme === 'socks4' ? 'SOCKS4' : 'SOCKS5'} as expected: the ${what} came back unchanged, as from an echo service\n`);
      }
    });
  });

  test('an HTTP server: exit 1, "answered HTTP, not SOCKS"', T, async () => {
    const server = http.createServer((_, res) => res.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const r = await runSocx(['connect', '-x', `socks5h://127.0.0.1:${port}`, 'example.com', '80'], { env: NO_PROXY_ENV });
      assert.equal(r.code, 1, describeRun(r));
      assertOneErrorLine(r.stderr);
      assert.equal(r.stderr, `socx: proxy socks5h://127.0.0.1:${port} answered HTTP, not SOCKS ("HTTP/1.1 400 Bad Request"): is it a web server or an HTTP proxy?\n`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('socx bind', () => {
  test('BND.PORT 0: exit 1 at once, without a "bound" line and without waiting out --wait', T, async () => {
    await withRogue(async (peer) => { await handshake(peer, hex('05 00 00 01 7f000001 0000')); }, async (rogue) => {
      const r = await runSocx(['bind', '-x', url(rogue), '--wait', '120', '0.0.0.0', '0'], { env: NO_PROXY_ENV, timeoutMs: 10_000 });
      assert.equal(r.code, 1, describeRun(r));
      assert.equal(r.timedOut, false);
      assertOneErrorLine(r.stderr);
      assert.match(r.stderr, /announced port 0/);
    });
  });

  test('the peer half-closes first: 4 MiB from stdin still reach it byte-exact, exit 0', T, async () => {
    const up = randomBytes(FOUR_MIB);
    await withRogue(async (peer) => {
      await handshake(peer, hex('05 00 00 01 7f000001 9c40'));
      peer.socket.write(hex('05 00 00 01 7f000001 d431'));
      peer.socket.end();
    }, async (rogue) => {
      const r = await runSocx(['bind', '-x', url(rogue), '0.0.0.0', '0'], { input: up, env: NO_PROXY_ENV });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stderr, 'socx: bound 127.0.0.1:40000\nsocx: peer 127.0.0.1:54321\n');
      const peer = await rogue.peer(0);
      await peer.input.end(10_000);
      const got = peer.input.all.subarray(3 + REQUEST_LENGTH);
      assert.equal(got.length, up.length);
      assert.equal(sha(got), sha(up));
    });
  });

  test('a reset after the peer connected: exit 1 "connection reset"', T, async () => {
    await withRogue(async (peer) => {
      await handshake(peer, hex('05 00 00 01 7f000001 9c40'));
      await new Promise<void>((resolve) => peer.socket.write(Buffer.concat([hex('05 00 00 01 7f000001 d431'), Buffer.from('partial')]), () => resolve()));
      peer.socket.resetAndDestroy();
    }, async (rogue) => {
      const bind = spawnSocx(['bind', '-x', url(rogue), '0.0.0.0', '0'], NO_PROXY_ENV);
      try {
        const code = await bind.exited(10_000);
        assert.equal(code, 1, bind.stderr());
        assert.match(bind.stderr(), /socx: peer 127\.0\.0\.1:54321\nsocx: connection reset/);
      } finally {
        bind.kill();
      }
    });
  });
});

describe('socx udp-send usage', () => {
  for (const args of [['--local', 'abc'], ['--local', '127.0.0.1'], ['--local', '70000'], ['--count', '10001'], ['--interval', 'x'], ['--interval', '60001']]) {
    test(`${args.join(' ')}: exit 2, one line`, T, async () => {
      const r = await runSocx(['udp-send', '-x', 'socks5h://127.0.0.1:9', ...args, '127.0.0.1', '9', 'x'], { env: NO_PROXY_ENV });
      assert.equal(r.code, 2, describeRun(r));
      assertOneErrorLine(r.stderr);
    });
  }

  test('--help documents --interval and the --count cap', T, async () => {
    const r = await runSocx(['udp-send', '--help'], { env: NO_PROXY_ENV });
    assert.match(r.stdout.toString(), /--interval <duration, bare = ms>.*\(default: 0ms\)/);
    assert.match(r.stdout.toString(), /--count <n>.*at most 10000/);
  });
});
