/** BIND from the client side: our client library (lib/client/bind.ts) and the npm `socks` library against
 * SocksServer, and our client against rogue proxies (an all-zeros BND.ADDR, a proxy that gives no peer). */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { SocksClient, type SocksProxy } from 'socks';
import { acceptPeer, requestBind } from '../../lib/client/bind.ts';
import type { ClientOptions } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import type { Address } from '../../lib/codec/address.ts';
import { describeError, exitCodeFor, SocxError } from '../../lib/errors.ts';
import { Collector, deferred, hex, startRogue, withTimeout, type RoguePeer } from '../helpers/net.ts';
import { startSocksServer, type TestServer } from '../helpers/socks.ts';
import { ANY4, assertNotListening, connectPeer } from './helpers.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';

const T = { timeout: 15_000 };

function options(url: string): ClientOptions {
  return { proxy: parseProxyUrl(url), timeoutMs: 3000 };
}

describe('lib/client/bind.ts against SocksServer', () => {
  let open: TestServer;
  let authed: TestServer;
  before(async () => {
    open = await startSocksServer();
    authed = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 'wonderland']])) });
  });
  after(async () => {
    await open.close();
    await authed.close();
  });

  const cases: Array<{ name: string; url: () => string; peer: Address }> = [
    { name: 'socks5://', url: () => `socks5://127.0.0.1:${open.port}`, peer: ANY4 },
    { name: 'socks5h:// with username/password', url: () => `socks5h://alice:wonderland@127.0.0.1:${authed.port}`, peer: { type: 'domain', host: 'localhost', port: 0 } },
    { name: 'socks4://', url: () => `socks4://127.0.0.1:${open.port}`, peer: { type: 'ipv4', host: '127.0.0.1', port: 0 } },
    { name: 'socks4a://', url: () => `socks4a://127.0.0.1:${open.port}`, peer: { type: 'domain', host: 'localhost', port: 0 } },
  ];
  for (const { name, url, peer: expected } of cases) {
    test(`requestBind + acceptPeer (${name}, peer ${expected.host})`, T, async () => {
      const pending = await requestBind(expected, options(url()));
      try {
        assert.equal(pending.address.host, '127.0.0.1');
        const peer = await connectPeer(pending.address);
        peer.socket.write('hi ');
        const accepted = await acceptPeer(pending, options(url()), 3000);
        assert.deepEqual(accepted.peer, { type: 'ipv4', host: '127.0.0.1', port: peer.socket.localPort });
        // The peer's first bytes may have come with the second reply: then they are in `head`, not the socket.
        const head = accepted.head.toString();
        const client = new Collector(accepted.socket);
        client.socket.end('up');
        assert.equal((await peer.end()).toString(), 'up');
        peer.socket.end('down');
        assert.equal(head + (await client.end()).toString(), 'hi down');
      } finally {
        pending.session.socket.destroy();
      }
    });
  }

  test('no peer within waitMs: a timeout error (exit 1) naming the address; the proxy frees the port', T, async () => {
    const records = open.records.length;
    const pending = await requestBind(ANY4, options(`socks5://127.0.0.1:${open.port}`));
    const started = performance.now();
    const error = await acceptPeer(pending, options(`socks5://127.0.0.1:${open.port}`), 300).then(() => undefined, (e: unknown) => e);
    assert.ok(performance.now() - started < 2000);
    assert.ok(error instanceof SocxError);
    assert.equal(error.code, 'timeout');
    assert.equal(exitCodeFor(error), 1);
    assert.equal(describeError(error), `no peer connected to 127.0.0.1:${pending.address.port} within 0.3 s`);
    assert.ok(pending.session.socket.destroyed);
    assert.match((await open.record(records)).result, /client closed the connection before a peer connected/);
    await assertNotListening('127.0.0.1', pending.address.port);
  });

  test('a peer from the wrong IP: request-rejected with the second reply\'s code (exit 4)', T, async () => {
    const url = `socks5://127.0.0.1:${open.port}`;
    const pending = await requestBind({ type: 'ipv4', host: '127.0.0.2', port: 0 }, options(url));
    const peer = await connectPeer(pending.address);
    const error = await acceptPeer(pending, options(url), 3000).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof SocxError);
    assert.equal(exitCodeFor(error), 4);
    assert.equal(error.phase, 'second-reply');
    assert.equal(describeError(error), 'proxy refused: connection not allowed by ruleset (SOCKS5 reply 0x02)');
    await peer.end();
  });
});

describe('lib/client/bind.ts against rogue proxies', () => {
  /** Answers greeting and BIND with `first`, then stays silent. */
  const answering = (first: Buffer) => async (peer: RoguePeer): Promise<void> => {
    await peer.input.take(3);
    peer.socket.write(hex('05 00'));
    await peer.input.take(10);
    peer.socket.write(first);
  };

  for (const [what, reply, proxyHost, expected] of [
    ['0.0.0.0', hex('05 00 00 01 00000000 1234'), '127.0.0.1', '127.0.0.1'],
    [':: (and a proxy given by name)', hex('05 00 00 04 00000000000000000000000000000000 1234'), 'localhost', 'localhost'],
  ] as const) {
    test(`a first reply of ${what} becomes the proxy's host`, T, async () => {
      const rogue = await startRogue(answering(reply));
      try {
        const pending = await requestBind(ANY4, options(`socks5://${proxyHost}:${rogue.port}`));
        assert.deepEqual(pending.address, { type: expected === 'localhost' ? 'domain' : 'ipv4', host: expected, port: 0x1234 });
        pending.session.socket.destroy();
      } finally {
        await rogue.close();
      }
    });
  }

  test('a proxy that closes while we wait for the peer: proxy-closed (exit 1)', T, async () => {
    const rogue = await startRogue(async (peer) => {
      await answering(hex('05 00 00 01 7f000001 1234'))(peer);
      peer.socket.end();
    });
    try {
      const url = `socks5://127.0.0.1:${rogue.port}`;
      const pending = await requestBind(ANY4, options(url));
      const error = await acceptPeer(pending, options(url), 3000).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof SocxError);
      assert.equal(error.code, 'proxy-closed');
      assert.equal(exitCodeFor(error), 1);
      assert.equal(describeError(error), 'the proxy closed the connection while waiting for a peer at 127.0.0.1:4660');
    } finally {
      await rogue.close();
    }
  });
});

describe('the npm socks library doing BIND against SocksServer', () => {
  let open: TestServer;
  let authed: TestServer;
  before(async () => {
    open = await startSocksServer();
    authed = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 'wonderland']])) });
  });
  after(async () => {
    await open.close();
    await authed.close();
  });

  const proxies: Array<{ name: string; proxy: () => SocksProxy }> = [
    { name: 'SOCKS5', proxy: () => ({ host: '127.0.0.1', port: open.port, type: 5 }) },
    { name: 'SOCKS5 with username/password', proxy: () => ({ host: '127.0.0.1', port: authed.port, type: 5, userId: 'alice', password: 'wonderland' }) },
    { name: 'SOCKS4', proxy: () => ({ host: '127.0.0.1', port: open.port, type: 4 }) },
  ];
  for (const { name, proxy } of proxies) {
    test(`${name}: 'bound' names the listening address, 'established' the peer; data both ways`, T, async () => {
      const client = new SocksClient({ proxy: proxy(), command: 'bind', destination: { host: '0.0.0.0', port: 0 }, timeout: 5000 });
      const bound = deferred<{ host: string; port: number }>();
      const established = deferred<{ socket: Socket; host: string; port: number }>();
      client.on('bound', (info) => bound.resolve({ host: info.remoteHost?.host ?? '', port: info.remoteHost?.port ?? 0 }));
      client.on('established', (info) => established.resolve({ socket: info.socket, host: info.remoteHost?.host ?? '', port: info.remoteHost?.port ?? 0 }));
      client.on('error', (error) => { bound.reject(error); established.reject(error); });
      client.connect();
      const announced = await withTimeout(bound.promise, 3000, "the 'bound' event");
      assert.equal(announced.host, '127.0.0.1');
      assert.notEqual(announced.port, 0);
      const peer = await connectPeer({ type: 'ipv4', host: announced.host, port: announced.port });
      const done = await withTimeout(established.promise, 3000, "the 'established' event");
      try {
        assert.deepEqual({ host: done.host, port: done.port }, { host: '127.0.0.1', port: peer.socket.localPort });
        const c = new Collector(done.socket);
        c.socket.write('from the socks library');
        assert.equal((await peer.take(22)).toString(), 'from the socks library');
        peer.socket.write('from the peer');
        assert.equal((await c.take(13)).toString(), 'from the peer');
      } finally {
        done.socket.destroy();
        peer.socket.destroy();
      }
    });
  }
});
