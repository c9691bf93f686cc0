/** The client library against servers nobody here wrote (issue 11): error replies cut short keep their code,
 * the shortest valid reply (an empty BND name) is taken with the data behind it, BIND on port 0 fails at once,
 * an HTTP answer is named, and a local DNS lookup is bounded by the timeout. */

import type { Resolver } from '../../lib/resolver/types.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from '../../lib/codec/address.ts';
import { acceptPeer, requestBind, requireConnectablePort } from '../../lib/client/bind.ts';
import { openSession, type ClientOptions, type ProxySession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { describeError, exitCodeFor, SocxError } from '../../lib/errors.ts';
import { hex, withRogue, withTimeout, type RoguePeer, type RogueServer } from '../helpers/net.ts';

const TARGET: Address = { type: 'ipv4', host: '127.0.0.1', port: 80 };
const ANY_PEER: Address = { type: 'ipv4', host: '0.0.0.0', port: 0 };
const T = { timeout: 10_000 };

function options(rogue: RogueServer, scheme = 'socks5', extra: Partial<ClientOptions> = {}): ClientOptions {
  return { proxy: parseProxyUrl(`${scheme}://127.0.0.1:${rogue.port}`), timeoutMs: 2000, ...extra };
}

async function settle<T>(promise: Promise<T>, limitMs = 3000): Promise<T | SocxError> {
  const outcome = await withTimeout(promise.then((value) => value, (error: unknown) => error), limitMs, 'the client to settle');
  if (outcome instanceof Error && !(outcome instanceof SocxError)) throw outcome;
  return outcome as T | SocxError;
}

async function failure(promise: Promise<unknown>, limitMs = 3000): Promise<SocxError> {
  const outcome = await settle(promise, limitMs);
  if (!(outcome instanceof SocxError)) {
    (outcome as ProxySession | undefined)?.socket?.destroy();
    assert.fail(`expected a SocxError, got ${String(outcome)}`);
  }
  return outcome;
}

/** No-auth greeting answered, then the request (10 bytes for an IPv4 target) answered with `reply`, then
 * the connection closed. */
const socks5Answer = (reply: Buffer, close = true) => async (peer: RoguePeer): Promise<void> => {
  await peer.input.take(3);
  peer.socket.write(hex('05 00'));
  await peer.input.take(10);
  if (close) peer.socket.end(reply);
  else peer.socket.write(reply);
};

describe('error replies cut short keep their code: exit 4, not "proxy closed"', () => {
  for (const [bytes, name] of [
    ['05 05', 'connection refused (SOCKS5 reply 0x05, short reply)'],
    ['05 07 00 01', 'command not supported (SOCKS5 reply 0x07, short reply)'],
    ['05 04 00', 'host unreachable (SOCKS5 reply 0x04, short reply)'],
    ['05 02 00 01 7f00', 'connection not allowed by ruleset (SOCKS5 reply 0x02, short reply)'],
  ] as const) {
    test(`${bytes}, then close`, T, async () => {
      await withRogue(socks5Answer(hex(bytes)), async (rogue) => {
        const error = await failure(openSession('connect', TARGET, options(rogue)));
        assert.deepEqual(error.reply, { version: 5, code: hex(bytes)[1], short: true });
        assert.equal(exitCodeFor(error), 4);
        assert.equal(error.phase, 'request');
        assert.equal(describeError(error), `proxy refused: ${name}`);
      });
    });
  }

  test('SOCKS4 00 5b, then close: exit 4, request rejected (short reply)', T, async () => {
    await withRogue(async (peer) => { await peer.input.take(9); peer.socket.end(hex('00 5b')); }, async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue, 'socks4')));
      assert.equal(exitCodeFor(error), 4);
      assert.equal(describeError(error), 'proxy refused: request rejected or failed (SOCKS4 reply 0x5b, short reply)');
    });
  });

  for (const bytes of ['05', '05 00', '05 00 00 01 7f', '00 5a']) {
    test(`a prefix that says no refusal (${bytes}), then close: still "proxy closed", exit 1`, T, async () => {
      const socks4 = bytes.startsWith('00');
      const script = socks4 ? async (peer: RoguePeer) => { await peer.input.take(9); peer.socket.end(hex(bytes)); } : socks5Answer(hex(bytes));
      await withRogue(script, async (rogue) => {
        const error = await failure(openSession('connect', TARGET, options(rogue, socks4 ? 'socks4' : 'socks5')));
        assert.equal(error.code, 'proxy-closed');
        assert.equal(error.reply, undefined);
        assert.equal(exitCodeFor(error), 1);
      });
    });
  }

  test("BIND's second reply cut short (05 05) keeps its code too", T, async () => {
    await withRogue(async (peer) => {
      await socks5Answer(hex('05 00 00 01 7f000001 9c40'), false)(peer);
      peer.socket.end(hex('05 05'));
    }, async (rogue) => {
      const pending = await requestBind(ANY_PEER, options(rogue));
      const error = await failure(acceptPeer(pending, options(rogue), 2000));
      assert.equal(exitCodeFor(error), 4);
      assert.equal(describeError(error), 'proxy refused: connection refused (SOCKS5 reply 0x05, short reply)');
      assert.equal(error.phase, 'second-reply');
    });
  });
});

describe('an empty BND.ADDR name: 05 00 00 03 00 PORT', () => {
  test('CONNECT succeeds and the data right behind the 7-byte reply is kept', T, async () => {
    await withRogue(socks5Answer(Buffer.concat([hex('05 00 00 03 00 0000'), Buffer.from('SSH-2.0-banner\r\n')]), false), async (rogue) => {
      const session = await openSession('connect', TARGET, options(rogue));
      try {
        assert.deepEqual(session.bound, { type: 'domain', host: '', port: 0 });
        assert.equal(session.head.toString(), 'SSH-2.0-banner\r\n');
      } finally {
        session.socket.destroy();
      }
    });
  });

  test("BIND: the peer must connect to the proxy's own address, on the port given", T, async () => {
    await withRogue(socks5Answer(hex('05 00 00 03 00 9c41'), false), async (rogue) => {
      const pending = await requestBind(ANY_PEER, options(rogue));
      pending.session.socket.destroy();
      assert.deepEqual(pending.address, { type: 'ipv4', host: '127.0.0.1', port: 40001 });
    });
  });
});

describe('BIND with BND.PORT 0', () => {
  test('fails at once (no waiting out --wait), exit 1, naming port 0; the connection is closed', T, async () => {
    await withRogue(socks5Answer(hex('05 00 00 01 7f000001 0000'), false), async (rogue) => {
      const started = performance.now();
      const error = await failure(requestBind(ANY_PEER, options(rogue, 'socks5', { timeoutMs: 5000 })).then((pending) => requireConnectablePort(pending, options(rogue))), 3000);
      assert.ok(performance.now() - started < 3000);
      assert.equal(error.code, 'protocol');
      assert.equal(exitCodeFor(error), 1);
      assert.match(describeError(error), /announced port 0/);
      await (await rogue.peer(0)).input.end();
    });
  });

  test('SOCKS4 too', T, async () => {
    await withRogue(async (peer) => { await peer.input.take(9); peer.socket.write(hex('00 5a 0000 7f000001')); }, async (rogue) => {
      const error = await failure(requestBind(ANY_PEER, options(rogue, 'socks4')).then((pending) => requireConnectablePort(pending, options(rogue))));
      assert.match(describeError(error), /announced port 0/);
      await (await rogue.peer(0)).input.end();
    });
  });
});

describe('an HTTP server where a proxy was expected', () => {
  for (const scheme of ['socks5h', 'socks4a']) {
    test(`${scheme}: "answered HTTP, not SOCKS", with its status line`, T, async () => {
      await withRogue(async (peer) => {
        await peer.input.take(3);
        peer.socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      }, async (rogue) => {
        const error = await failure(openSession('connect', { type: 'domain', host: 'example.com', port: 80 }, options(rogue, scheme)));
        assert.equal(error.code, 'protocol');
        assert.equal(exitCodeFor(error), 1);
        assert.equal(describeError(error), `proxy ${scheme}://127.0.0.1:${rogue.port} answered HTTP, not SOCKS ("HTTP/1.1 400 Bad Request"): is it a web server or an HTTP proxy?`);
      });
    });
  }

  test('control bytes in the status line are escaped', T, async () => {
    await withRogue(async (peer) => { await peer.input.take(3); peer.socket.end('HTTP/1.1 \x1b[31m400\x07\r\n'); }, async (rogue) => {
      const error = await failure(openSession('connect', TARGET, options(rogue)));
      assert.match(describeError(error), /\("HTTP\/1\.1 \\x1b\[31m400\\x07"\)/);
    });
  });
});

describe('local DNS (socks5://, socks4://) is bounded by the timeout', () => {
  for (const scheme of ['socks5', 'socks4']) {
    test(`${scheme}: a resolver that never answers fails with a timeout after timeoutMs, before any connection`, T, async () => {
      await withRogue(() => {}, async (rogue) => {
        const never: Resolver = { lookup: () => {} };
        const error = await failure(openSession('connect', { type: 'domain', host: 'slow.example', port: 80 }, options(rogue, scheme, { timeoutMs: 200, resolver: never })), 2000);
        assert.equal(error.code, 'timeout');
        assert.equal(exitCodeFor(error), 1);
        assert.equal(describeError(error), 'Cannot resolve slow.example: no answer from the resolver within 200 ms');
        assert.equal(rogue.peers.length, 0);
      });
    });
  }

  test('the injected resolver is what socks5:// uses', T, async () => {
    await withRogue(socks5Answer(hex('05 00 00 01 7f000001 0050'), false), async (rogue) => {
      const session = await openSession('connect', { type: 'domain', host: 'anything.test', port: 80 }, options(rogue, 'socks5', { resolver: { lookup: (_host, _client, callback) => setImmediate(callback, null, [{ address: '192.0.2.9', family: 4 }]) } }));
      session.socket.destroy();
      assert.deepEqual((await rogue.peer(0)).input.all.subarray(3), hex('05 01 00 01 c0000209 0050'));
    });
  });
});
