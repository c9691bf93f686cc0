/** UdpAssociation on its own, with an injected resolver: the name queue and cache, reply headers for
 * alternating sources (the cached header must follow the source), close() and the idle timer. */

import dgram from 'node:dgram';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from '../../lib/codec/address.ts';
import type { Resolve, ResolveCallback } from '../../lib/server/udp-names.ts';
import { openUdpAssociation, type UdpAssociationOptions } from '../../lib/server/udp-association.ts';
import { sleep, withTimeout } from '../helpers/net.ts';
import { portIsFree, startUdpEcho, TestUdp, unwrap, wrap } from './udp-helpers.ts';

const T = { timeout: 15_000 };

function options(client: TestUdp, extra: Partial<UdpAssociationOptions> = {}): UdpAssociationOptions {
  return {
    clientHost: '127.0.0.1',
    clientPort: client.port,
    localHost: '127.0.0.1',
    idleTimeoutMs: 0,
    resolve: () => { throw new Error('no names in this test'); },
    ...extra,
  };
}

describe('UdpAssociation', () => {
  test('datagrams for a name being resolved wait (16 at most), then go out; the answer is cached', T, async () => {
    const client = await TestUdp.bind('127.0.0.1');
    const echo = await startUdpEcho();
    const lookups: Array<{ host: string; callback: ResolveCallback }> = [];
    const resolve: Resolve = (host, callback) => { lookups.push({ host, callback }); };
    const association = await openUdpAssociation(options(client, { resolve }));
    try {
      const named: Address = { type: 'domain', host: 'slow.test', port: echo.port };
      for (let i = 0; i < 20; i++) await client.send(wrap(named, `q${i}`), association.port, '127.0.0.1');
      await sleep(50);
      assert.equal(lookups.length, 1, 'one lookup for one name');
      assert.equal(echo.received.length, 0);
      lookups[0]?.callback(null, '127.0.0.1', 4);
      await client.nth(15);
      await client.send(wrap(named, 'cached'), association.port, '127.0.0.1');
      assert.equal(unwrap((await client.nth(16)).msg).payload.toString(), 'cached');
      assert.equal(lookups.length, 1, 'the second use of the name is answered from the cache');
      assert.deepEqual(echo.received.map((d) => d.msg.toString()), [...Array.from({ length: 16 }, (_, i) => `q${i}`), 'cached']);
      assert.equal(association.counters.drops.resolve, 4);
      assert.equal(association.counters.datagramsUp, 17);
    } finally {
      association.close('control-closed');
      client.close();
      echo.close();
    }
  });

  test('replies from alternating sources each carry their own source in the header', T, async () => {
    const client = await TestUdp.bind('127.0.0.1');
    const echoA = await startUdpEcho('127.0.0.1');
    const echoB = await startUdpEcho('::1');
    const association = await openUdpAssociation(options(client));
    try {
      const a: Address = { type: 'ipv4', host: '127.0.0.1', port: echoA.port };
      const b: Address = { type: 'ipv6', host: '::1', port: echoB.port };
      for (let i = 0; i < 6; i++) {
        await client.send(wrap(i % 2 ? b : a, `m${i}`), association.port, '127.0.0.1');
        const back = unwrap((await client.nth(i)).msg);
        assert.deepEqual(back, { address: i % 2 ? b : a, frag: 0, payload: Buffer.from(`m${i}`) });
      }
      assert.equal(association.counters.datagramsDown, 6);
      assert.equal(association.counters.bytesDown, 12);
    } finally {
      association.close('control-closed');
      client.close();
      echoA.close();
      echoB.close();
    }
  });

  test('close() frees the port at once and settles `ended` with the reason; a second close changes nothing', T, async () => {
    const client = await TestUdp.bind('127.0.0.1');
    const association = await openUdpAssociation(options(client));
    const port = association.port;
    assert.equal(await portIsFree('127.0.0.1', port), false);
    association.close('shutdown');
    association.close('idle-timeout');
    assert.equal(await association.ended, 'shutdown');
    assert.equal(await portIsFree('127.0.0.1', port), true);
    client.close();
  });

  test('the idle timer ends a quiet association after about idleTimeoutMs', T, async () => {
    const client = await TestUdp.bind('127.0.0.1');
    const started = performance.now();
    const association = await openUdpAssociation(options(client, { idleTimeoutMs: 200 }));
    assert.equal(await withTimeout(association.ended, 2000, 'the idle timeout'), 'idle-timeout');
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 1000, `ended after ${elapsed} ms`);
    client.close();
  });

  test('an --egress address this machine does not have drops the datagrams (send) instead of crashing the server', T, async () => {
    const client = await TestUdp.bind('127.0.0.1');
    const echo = await startUdpEcho();
    // TEST-NET-2: on no interface of a test machine, so the bind towards targets fails (EADDRNOTAVAIL).
    const association = await openUdpAssociation(options(client, { egress: { ipv4: '198.51.100.254', ipv6: undefined } }));
    try {
      const target: Address = { type: 'ipv4', host: '127.0.0.1', port: echo.port };
      for (let i = 0; i < 100 && association.counters.drops.send === 0; i++) {
        await client.send(wrap(target, `d${i}`), association.port, '127.0.0.1');
        await sleep(10);
      }
      assert.ok(association.counters.drops.send > 0, 'the datagrams after the failed bind are dropped as send');
      assert.equal(echo.received.length, 0);
    } finally {
      association.close('control-closed');
      client.close();
      echo.close();
    }
  });

  test('a socket whose send queue is full drops the datagram (send) instead of queueing it: towards the target and towards the client', T, async () => {
    const client = await TestUdp.bind('127.0.0.1');
    const echo = await startUdpEcho();
    const association = await openUdpAssociation(options(client));
    // Loopback never leaves a send queued, so the 64 MiB a slow path would queue is what the socket reports,
    // once: a socket towards targets ('up', not bound before its first send) or the client-facing one ('down').
    let full: 'up' | 'down' | undefined;
    const queued = dgram.Socket.prototype.getSendQueueSize;
    const clientFacing = (socket: dgram.Socket): boolean => {
      try {
        return socket.address().port === association.port;
      } catch {
        return false;
      }
    };
    dgram.Socket.prototype.getSendQueueSize = function (this: dgram.Socket): number {
      if (full === undefined || this === client.socket || this === echo.socket) return queued.call(this);
      if ((full === 'down') !== clientFacing(this)) return queued.call(this);
      full = undefined;
      return 64 * 1024 * 1024;
    };
    try {
      const target: Address = { type: 'ipv4', host: '127.0.0.1', port: echo.port };
      // Datagrams are handled in order: once the one behind it is back, the one sent under a full queue is done.
      full = 'up';
      await client.send(wrap(target, 'up-full'), association.port, '127.0.0.1');
      await client.send(wrap(target, 'first'), association.port, '127.0.0.1');
      assert.equal(unwrap((await client.nth(0)).msg).payload.toString(), 'first');
      full = 'down';
      await client.send(wrap(target, 'down-full'), association.port, '127.0.0.1');
      await client.send(wrap(target, 'last'), association.port, '127.0.0.1');
      assert.equal(unwrap((await client.nth(1)).msg).payload.toString(), 'last');
      assert.deepEqual(echo.received.map((d) => d.msg.toString()), ['first', 'down-full', 'last']);
      assert.deepEqual(client.received.map((d) => unwrap(d.msg).payload.toString()), ['first', 'last']);
      assert.equal(association.counters.drops.send, 2);
      assert.equal(association.counters.dropped, 2);
      assert.equal(association.counters.droppedBytes, 'up-full'.length + 'down-full'.length);
      assert.equal(association.counters.datagramsUp, 3);
      assert.equal(association.counters.datagramsDown, 2);
    } finally {
      dgram.Socket.prototype.getSendQueueSize = queued;
      association.close('control-closed');
      client.close();
      echo.close();
    }
  });
});
