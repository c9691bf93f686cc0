/** The client library against rogue peers (STYLE.md, tests layer 3): each bad answer fails fast with the
 * right code and exit code; and the exact bytes the client sends for each scheme. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from '../../lib/codec/address.ts';
import { openSession, type ClientOptions, type ProxySession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { describeError, exitCodeFor, SocxError, type ErrorCode } from '../../lib/errors.ts';
import { closedPort, hex, sleep, withRogue, withTimeout, writeByteByByte, type RoguePeer, type RogueServer } from '../helpers/net.ts';

const TARGET: Address = { type: 'ipv4', host: '127.0.0.1', port: 80 };
const OK_REPLY = hex('05 00 00 01 7f000001 1f90');

function options(rogue: RogueServer, url: string, extra: Partial<ClientOptions> = {}): ClientOptions {
  return { proxy: parseProxyUrl(url.replace('PORT', String(rogue.port))), timeoutMs: 2000, ...extra };
}

/** Runs openSession and returns the error it must fail with, within `limitMs`. */
async function failure(promise: Promise<ProxySession>, limitMs = 3000): Promise<SocxError> {
  const outcome = await withTimeout(promise.then(
    (session) => { session.socket.destroy(); return undefined; },
    (error: unknown) => error,
  ), limitMs, 'openSession to settle');
  assert.ok(outcome instanceof SocxError, `expected a SocxError, got ${String(outcome)}`);
  return outcome;
}

function assertError(error: SocxError, code: ErrorCode, exit: number): void {
  assert.equal(error.code, code, `code (message: ${error.message})`);
  assert.equal(exitCodeFor(error), exit);
}

/** A proxy that answers the no-auth greeting with 05 00 and the request with `reply`. */
const answering = (reply: Buffer) => async (peer: RoguePeer): Promise<void> => {
  await peer.input.take(3);
  peer.socket.write(hex('05 00'));
  await peer.input.take(10);
  peer.socket.write(reply);
};

describe('openSession against rogue proxies', () => {
  test('(a) a proxy that never answers: timeout after timeoutMs (300 ms), within 2 s, and the socket is closed', { timeout: 10_000 }, async () => {
    await withRogue(() => {}, async (rogue) => {
      const started = performance.now();
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT', { timeoutMs: 300 })), 2000);
      assertError(error, 'timeout', 1);
      assert.ok(performance.now() - started < 2000);
      const peer = await rogue.peer(0);
      assert.deepEqual(peer.input.all, hex('05 01 00'));
      await peer.input.end();
    });
  });

  test('(b) a proxy that closes at once: proxy-closed', { timeout: 10_000 }, async () => {
    await withRogue((peer) => { peer.socket.end(); }, async (rogue) => {
      assertError(await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT'))), 'proxy-closed', 1);
    });
  });

  test('a proxy that resets the connection at once fails fast with exit 1', { timeout: 10_000 }, async () => {
    await withRogue((peer) => { peer.socket.resetAndDestroy(); }, async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT')));
      // In-process the reset can land before the connect completes (proxy-unreachable) or after it.
      assert.ok(['proxy-closed', 'network', 'proxy-unreachable'].includes(error.code), `code ${error.code}`);
      assert.equal(exitCodeFor(error), 1);
    });
  });

  test('(c) 05 FF: no-acceptable-method, exit 3', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => { await peer.input.take(3); peer.socket.end(hex('05 ff')); }, async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT')));
      assertError(error, 'no-acceptable-method', 3);
      assert.equal(error.phase, 'greeting');
    });
  });

  test('(d) the proxy selects 02 when only 00 was offered: protocol', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => { await peer.input.take(3); peer.socket.write(hex('05 02')); }, async (rogue) => {
      assertError(await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT'))), 'protocol', 1);
      assert.deepEqual((await rogue.peer(0)).input.all, hex('05 01 00'), 'no credentials follow a method that was not offered');
    });
  });

  test('(e) auth reply 01 01: auth-failed, exit 3, after the exact RFC 1929 request', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => {
      await peer.input.take(4);
      peer.socket.write(hex('05 02'));
      await peer.input.take(3 + 3 + 6);
      peer.socket.end(hex('01 01'));
    }, async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5://bob:secret@127.0.0.1:PORT')));
      assertError(error, 'auth-failed', 3);
      assert.equal(error.phase, 'auth');
      const sent = (await rogue.peer(0)).input.all;
      assert.deepEqual(sent, Buffer.concat([hex('05 02 00 02'), hex('01 03'), Buffer.from('bob'), hex('06'), Buffer.from('secret')]));
    });
  });

  test('(f) reply 05 05: request-rejected with the reply, its one-line description and exit 4', { timeout: 10_000 }, async () => {
    await withRogue(answering(hex('05 05 00 01 00000000 0000')), async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT')));
      assertError(error, 'request-rejected', 4);
      assert.deepEqual(error.reply, { version: 5, code: 5 });
      assert.equal(describeError(error), 'proxy refused: connection refused (SOCKS5 reply 0x05)');
      assert.equal(error.phase, 'request');
    });
  });

  test('an unknown reply code (0x42) is data, not a crash', { timeout: 10_000 }, async () => {
    await withRogue(answering(hex('05 42 00 01 00000000 0000')), async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT')));
      assertError(error, 'request-rejected', 4);
      assert.equal(describeError(error), 'proxy refused: unknown reply 0x42 (SOCKS5 reply 0x42)');
    });
  });

  test('(g) an HTTP server: protocol', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => {
      await peer.input.take(3);
      peer.socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }, async (rogue) => {
      assertError(await failure(openSession('connect', TARGET, options(rogue, 'socks5h://127.0.0.1:PORT'))), 'protocol', 1);
    });
  });

  test('(h) a truncated reply, then close: proxy-closed', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => {
      await peer.input.take(3);
      peer.socket.write(hex('05 00'));
      await peer.input.take(10);
      peer.socket.end(hex('05 00 00 01 7f'));
    }, async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT')));
      assertError(error, 'proxy-closed', 1);
      assert.equal(error.phase, 'request');
    });
  });

  test('a method selection truncated to one byte, then close: proxy-closed', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => { await peer.input.take(3); peer.socket.end(hex('05')); }, async (rogue) => {
      assertError(await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT'))), 'proxy-closed', 1);
    });
  });

  test('(i) SOCKS4 reply 0x5B: request-rejected, exit 4', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => { await peer.input.take(9); peer.socket.end(hex('00 5b 0000 00000000')); }, async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks4://127.0.0.1:PORT')));
      assertError(error, 'request-rejected', 4);
      assert.deepEqual(error.reply, { version: 4, code: 0x5b });
      assert.equal(describeError(error), 'proxy refused: request rejected or failed (SOCKS4 reply 0x5b)');
    });
  });

  test('a SOCKS4 reply with a bad version byte: protocol', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => { await peer.input.take(9); peer.socket.end(hex('05 5a 0000 00000000')); }, async (rogue) => {
      assertError(await failure(openSession('connect', TARGET, options(rogue, 'socks4://127.0.0.1:PORT'))), 'protocol', 1);
    });
  });

  test('a closed port: proxy-unreachable, exit 1, with a one-line message naming the proxy', { timeout: 10_000 }, async () => {
    const port = await closedPort();
    const error = await failure(openSession('connect', TARGET, { proxy: parseProxyUrl(`socks5://127.0.0.1:${port}`), timeoutMs: 2000 }));
    assertError(error, 'proxy-unreachable', 1);
    assert.equal(error.phase, 'connect');
    assert.equal(describeError(error), `Cannot connect to proxy 127.0.0.1:${port}: connection refused`);
  });

  test('an abort signal cancels a handshake the proxy never answers', { timeout: 10_000 }, async () => {
    await withRogue(() => {}, async (rogue) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT', { timeoutMs: 10_000, signal: controller.signal })), 2000);
      assertError(error, 'aborted', 1);
    });
  });

  for (const [what, url] of [
    ['a SOCKS5 username', `socks5://${'u'.repeat(256)}:pass@127.0.0.1:PORT`],
    ['a SOCKS5 password', `socks5://user:${'p'.repeat(256)}@127.0.0.1:PORT`],
    ['a SOCKS4 USERID', `socks4://${'u'.repeat(256)}@127.0.0.1:PORT`],
  ] as const) {
    test(`${what} longer than 255 bytes is a usage error (exit 2), not a TypeError`, { timeout: 10_000 }, async () => {
      await withRogue(async (peer) => { await peer.input.take(4); peer.socket.write(hex('05 02')); }, async (rogue) => {
        const outcome = await withTimeout((async () => openSession('connect', TARGET, options(rogue, url)))().then(
          (session) => { session.socket.destroy(); return undefined; },
          (error: unknown) => error,
        ), 3000, 'openSession');
        assert.ok(outcome instanceof SocxError, `expected SocxError 'usage', got ${String(outcome)}`);
        assertError(outcome, 'usage', 2);
      });
    });
  }

  test('a SOCKS4 proxy cannot carry an IPv6 target or UDP: usage errors before any connection', { timeout: 10_000 }, async () => {
    await withRogue(() => {}, async (rogue) => {
      assertError(await failure(openSession('connect', { type: 'ipv6', host: '::1', port: 80 }, options(rogue, 'socks4://127.0.0.1:PORT'))), 'usage', 2);
      assertError(await failure(openSession('udp', TARGET, options(rogue, 'socks4a://127.0.0.1:PORT'))), 'usage', 2);
      await sleep(50);
      assert.equal(rogue.peers.length, 0);
    });
  });
});

describe('openSession: what goes on the wire', () => {
  test('socks5 without credentials: greeting 05 01 00, then the request', { timeout: 10_000 }, async () => {
    await withRogue(answering(OK_REPLY), async (rogue) => {
      const session = await openSession('connect', { type: 'ipv4', host: '10.1.2.3', port: 8080 }, options(rogue, 'socks5://127.0.0.1:PORT'));
      session.socket.destroy();
      assert.deepEqual(session.bound, { type: 'ipv4', host: '127.0.0.1', port: 8080 });
      assert.deepEqual((await rogue.peer(0)).input.all, hex('05 01 00  05 01 00 01 0a010203 1f90'));
    });
  });

  test('socks5 with credentials: greeting 05 02 00 02; the proxy may still pick 00, and then no credentials are sent', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => {
      await peer.input.take(4);
      peer.socket.write(hex('05 00'));
      await peer.input.take(10);
      peer.socket.write(OK_REPLY);
    }, async (rogue) => {
      const session = await openSession('connect', TARGET, options(rogue, 'socks5://u:p@127.0.0.1:PORT'));
      session.socket.destroy();
      assert.deepEqual((await rogue.peer(0)).input.all, hex('05 02 00 02  05 01 00 01 7f000001 0050'));
    });
  });

  test('percent-decoded credentials go into the RFC 1929 request as UTF-8', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => {
      await peer.input.take(4);
      peer.socket.write(hex('05 02'));
      const { 1: ulen = 0 } = await peer.input.take(2);
      await peer.input.take(ulen);
      const { 0: plen = 0 } = await peer.input.take(1);
      await peer.input.take(plen);
      peer.socket.write(hex('01 00'));
      await peer.input.take(10);
      peer.socket.write(OK_REPLY);
    }, async (rogue) => {
      const session = await openSession('connect', TARGET, options(rogue, 'socks5://us%40er:p%3Ass%C3%A9@127.0.0.1:PORT'));
      session.socket.destroy();
      const auth = (await rogue.peer(0)).input.all.subarray(4, -10);
      assert.deepEqual(auth, Buffer.concat([hex('01 05'), Buffer.from('us@er'), hex('06'), Buffer.from('p:ssé')]));
    });
  });

  test('socks5h sends a name as ATYP 03', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => {
      await peer.input.take(3);
      peer.socket.write(hex('05 00'));
      await peer.input.take(4 + 1 + 11 + 2);
      peer.socket.write(OK_REPLY);
    }, async (rogue) => {
      const session = await openSession('connect', { type: 'domain', host: 'example.com', port: 443 }, options(rogue, 'socks5h://127.0.0.1:PORT'));
      session.socket.destroy();
      assert.deepEqual((await rogue.peer(0)).input.all, Buffer.concat([hex('05 01 00  05 01 00 03 0b'), Buffer.from('example.com'), hex('01bb')]));
    });
  });

  test('socks5 resolves "localhost" itself and sends an IP address', { timeout: 10_000 }, async () => {
    let request: Buffer = Buffer.alloc(0);
    await withRogue(async (peer) => {
      await peer.input.take(3);
      peer.socket.write(hex('05 00'));
      const head = await peer.input.take(4);
      const rest = await peer.input.take(head[3] === 0x04 ? 18 : 6);
      request = Buffer.concat([head, rest]);
      peer.socket.write(OK_REPLY);
    }, async (rogue) => {
      const session = await openSession('connect', { type: 'domain', host: 'localhost', port: 443 }, options(rogue, 'socks5://127.0.0.1:PORT'));
      session.socket.destroy();
      const ok = request.equals(hex('05 01 00 01 7f000001 01bb')) || request.equals(hex('05 01 00 04 00000000000000000000000000000001 01bb'));
      assert.ok(ok, `expected an IP request for localhost, got ${request.toString('hex')}`);
    });
  });

  test('socks4 with a USERID: 04 01 port ip USERID 00', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => { await peer.input.take(8 + 6); peer.socket.write(hex('00 5a 0000 00000000')); }, async (rogue) => {
      const session = await openSession('connect', { type: 'ipv4', host: '192.0.2.7', port: 22 }, options(rogue, 'socks4://alice@127.0.0.1:PORT'));
      session.socket.destroy();
      assert.deepEqual((await rogue.peer(0)).input.all, Buffer.concat([hex('04 01 0016 c0000207'), Buffer.from('alice\0')]));
    });
  });

  test('socks4 resolves a name itself (IPv4 only)', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => { await peer.input.take(9); peer.socket.write(hex('00 5a 0000 00000000')); }, async (rogue) => {
      const session = await openSession('connect', { type: 'domain', host: 'localhost', port: 22 }, options(rogue, 'socks4://127.0.0.1:PORT'));
      session.socket.destroy();
      assert.deepEqual((await rogue.peer(0)).input.all, hex('04 01 0016 7f000001 00'));
    });
  });

  test('socks4a sends 0.0.0.1, the USERID and the host name', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => { await peer.input.take(8 + 3 + 12); peer.socket.write(hex('00 5a 0000 00000000')); }, async (rogue) => {
      const session = await openSession('connect', { type: 'domain', host: 'example.com', port: 80 }, options(rogue, 'socks4a://me@127.0.0.1:PORT'));
      session.socket.destroy();
      assert.deepEqual((await rogue.peer(0)).input.all, Buffer.concat([hex('04 01 0050 00000001'), Buffer.from('me\0example.com\0')]));
    });
  });

  test('a reply split byte by byte is read whole; bytes after it are handed on', { timeout: 10_000 }, async () => {
    await withRogue(async (peer) => {
      await peer.input.take(3);
      await writeByteByByte(peer.socket, hex('05 00'));
      await peer.input.take(10);
      await writeByteByByte(peer.socket, hex('05 00 00 03 09'));
      peer.socket.write(Buffer.concat([Buffer.from('proxy.lan'), hex('04d2'), Buffer.from('early data')]));
    }, async (rogue) => {
      const session = await openSession('connect', TARGET, options(rogue, 'socks5://127.0.0.1:PORT'));
      try {
        assert.deepEqual(session.bound, { type: 'domain', host: 'proxy.lan', port: 1234 });
        const rest = session.head;
        assert.equal(rest.toString(), 'early data');
      } finally {
        session.socket.destroy();
      }
    });
  });
});
