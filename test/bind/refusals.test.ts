/** Every way a BIND ends without a relay: the reply (a complete one wherever the client can still read it),
 * both connections closed, the record saying why, and no listening socket left behind. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, connectTo, hex } from '../helpers/net.ts';
import { greet, startSocksServer } from '../helpers/socks.ts';
import { ANY4, assertNotListening, bindRequest4, bindRequest5, connectPeer, readReply } from './helpers.ts';

const T = { timeout: 15_000 };
const SOCKS5_FAILURE = (code: string): Buffer => hex(`05 ${code} 00 01 00000000 0000`);
const SOCKS4_REJECTED = hex('00 5b 0000 00000000');
/** Loopback, but not the address our test peers connect from. */
const OTHER_HOST = { type: 'ipv4', host: '127.0.0.2', port: 0 } as const;

describe('BIND refusals', () => {
  test('SOCKS5: a peer from another IP than DST.ADDR → second reply 0x02, client and peer closed, port freed', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(bindRequest5(OTHER_HOST));
      const first = await readReply(c, 5);
      assert.equal(first.code, 0);
      const peer = await connectPeer(first.address);
      assert.deepEqual((await readReply(c, 5)).bytes, SOCKS5_FAILURE('02'));
      assert.equal((await c.end()).length, 0, 'nothing after the reply');
      await peer.end();
      assert.equal(peer.pending.length, 0, 'the peer got nothing');
      await assertNotListening('127.0.0.1', first.address.port);
      const record = await server.record(0);
      assert.equal(record.ok, false);
      assert.match(record.result, /^connection not allowed by ruleset \(peer 127\.0\.0\.1:\d+ is not the expected 127\.0\.0\.2\)$/);
    } finally {
      await server.close();
    }
  });

  test('SOCKS4: a peer from another IP than DSTIP → second reply 0x5B, both closed, port freed', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      c.socket.write(bindRequest4(OTHER_HOST));
      const first = await readReply(c, 4);
      assert.equal(first.code, 0x5a);
      const peer = await connectPeer(first.address);
      assert.deepEqual(await c.take(8), SOCKS4_REJECTED);
      assert.equal((await c.end()).length, 0);
      await peer.end();
      await assertNotListening('127.0.0.1', first.address.port);
    } finally {
      await server.close();
    }
  });

  test('the peer check is by IP: a peer from DST.ADDR itself is accepted (bound from 127.0.0.2)', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(bindRequest5(OTHER_HOST));
      const first = await readReply(c, 5);
      const peer = await connectPeer(first.address, '127.0.0.2');
      const second = await readReply(c, 5);
      assert.equal(second.code, 0);
      assert.deepEqual(second.address, { type: 'ipv4', host: '127.0.0.2', port: peer.socket.localPort });
    } finally {
      await server.close();
    }
  });

  for (const version of [5, 4] as const) {
    test(`SOCKS${version}: no peer within bindTimeoutMs (300 ms) → failure reply (${version === 5 ? '0x06 TTL expired' : '0x5B'}), closed, port freed`, T, async () => {
      const server = await startSocksServer({ bindTimeoutMs: 300 });
      try {
        const c = await server.client();
        if (version === 5) await greet(c);
        c.socket.write(version === 5 ? bindRequest5(ANY4) : bindRequest4(ANY4));
        const first = await readReply(c, version);
        const started = performance.now();
        assert.deepEqual(version === 5 ? (await readReply(c, 5)).bytes : await c.take(8), version === 5 ? SOCKS5_FAILURE('06') : SOCKS4_REJECTED);
        assert.ok(performance.now() - started < 2000);
        assert.equal((await c.end()).length, 0);
        await assertNotListening('127.0.0.1', first.address.port, 0);
        assert.match((await server.record(0)).result, /^TTL expired \(no peer connected within 0\.3 s\)$/);
      } finally {
        await server.close();
      }
    });
  }

  test('SOCKS5 with BIND disabled (commands without bind, as --no-bind) → 0x07; SOCKS4 → 0x5B', T, async () => {
    const server = await startSocksServer({ commands: {} });
    try {
      const c5 = await server.client();
      await greet(c5);
      c5.socket.write(bindRequest5(ANY4));
      assert.deepEqual((await readReply(c5, 5)).bytes, SOCKS5_FAILURE('07'));
      assert.equal((await c5.end()).length, 0);
      const c4 = await server.client();
      c4.socket.write(bindRequest4(ANY4));
      assert.deepEqual(await c4.take(8), SOCKS4_REJECTED);
      assert.match((await server.record(0)).result, /command not supported/);
    } finally {
      await server.close();
    }
  });

  test('the client half-closes (EOF) while waiting → failure reply 0x01 it can still read, port freed at once', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(bindRequest5(ANY4));
      const first = await readReply(c, 5);
      c.socket.end();
      assert.deepEqual((await readReply(c, 5)).bytes, SOCKS5_FAILURE('01'));
      await c.end();
      await assertNotListening('127.0.0.1', first.address.port);
      assert.match((await server.record(0)).result, /client closed the connection before a peer connected/);
    } finally {
      await server.close();
    }
  });

  for (const how of ['destroy', 'resetAndDestroy'] as const) {
    test(`the client's connection goes away while waiting (${how}) → the wait is cancelled, port freed`, T, async () => {
      const server = await startSocksServer();
      try {
        const c = await server.client();
        await greet(c);
        c.socket.write(bindRequest5(ANY4));
        const first = await readReply(c, 5);
        c.socket[how]();
        const record = await server.record(0);
        assert.equal(record.ok, false);
        assert.match(record.result, /client closed the connection before a peer connected|client connection failed while waiting for a peer/);
        await assertNotListening('127.0.0.1', first.address.port, 0);
      } finally {
        await server.close();
      }
    });
  }

  test('the server shutting down while a BIND waits frees the port', T, async () => {
    const server = await startSocksServer();
    // Not server.client(): the helper's close() would close that one first.
    const c = new Collector(await connectTo('127.0.0.1', server.port));
    try {
      await greet(c);
      c.socket.write(bindRequest5(ANY4));
      const first = await readReply(c, 5);
      await server.close(50);
      await assertNotListening('127.0.0.1', first.address.port, 0);
      assert.equal((await server.record(0)).result, 'server shutting down');
      await c.end();
    } finally {
      c.socket.destroy();
    }
  });

  test('a BIND for a name that does not resolve → 0x04 host unreachable, nothing listens', T, async () => {
    const server = await startSocksServer();
    try {
      const c = await server.client();
      await greet(c);
      c.socket.write(bindRequest5({ type: 'domain', host: 'no-such-host.invalid', port: 0 }));
      assert.deepEqual((await readReply(c, 5, 10_000)).bytes, SOCKS5_FAILURE('04'));
      assert.equal((await server.record(0)).bound, undefined);
    } finally {
      await server.close();
    }
  });
});
