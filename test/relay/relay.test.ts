/** The relay with real TCP sockets on loopback: two socket pairs, the relay joins their inner ends and the
 * test drives the outer ends ("client" stands for a, "upstream" for b). */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { relay, type RelayOptions, type RelayResult } from '../../lib/relay.ts';
import { Collector, sleep, socketPair, withTimeout, WAIT_MS } from '../helpers/net.ts';

interface Rig {
  readonly client: Socket;
  readonly upstream: Socket;
  /** The relay's own sockets: `a` faces the client, `b` the upstream. */
  readonly a: Socket;
  readonly b: Socket;
  readonly result: Promise<RelayResult>;
  destroy(): void;
}

async function startRelay(options: RelayOptions = {}): Promise<Rig> {
  const left = await socketPair();
  const right = await socketPair();
  const result = relay(left.inner, right.inner, options);
  return {
    client: left.outer, upstream: right.outer, a: left.inner, b: right.inner, result,
    destroy() { for (const s of [left.outer, left.inner, right.outer, right.inner]) s.destroy(); },
  };
}

function settled(rig: Rig, ms = WAIT_MS): Promise<RelayResult> {
  return withTimeout(rig.result, ms, 'the relay to settle');
}

/** Writes `data` in chunks, honouring backpressure, then ends. */
async function writeAll(socket: Socket, data: Buffer, chunk = 64 * 1024): Promise<void> {
  for (let at = 0; at < data.length; at += chunk) {
    if (!socket.write(data.subarray(at, at + chunk))) await new Promise((resolve) => socket.once('drain', resolve));
  }
  socket.end();
}

/** Hashes everything until EOF. */
function hashUntilEnd(socket: Socket, timeoutMs: number): Promise<{ sha: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return withTimeout(new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => { bytes += chunk.length; hash.update(chunk); });
    socket.once('end', () => resolve({ sha: hash.digest('hex'), bytes }));
    socket.once('error', reject);
    socket.resume();
  }), timeoutMs, 'all the data');
}

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe('relay', () => {
  test('carries a few MiB each way at once, byte for byte', { timeout: 30_000 }, async () => {
    const rig = await startRelay();
    try {
      const up = randomBytes(3 * 1024 * 1024 + 12_345);
      const down = randomBytes(2 * 1024 * 1024 + 777);
      const atUpstream = hashUntilEnd(rig.upstream, 20_000);
      const atClient = hashUntilEnd(rig.client, 20_000);
      await Promise.all([writeAll(rig.client, up), writeAll(rig.upstream, down)]);
      const [gotUp, gotDown] = await Promise.all([atUpstream, atClient]);
      assert.equal(gotUp.bytes, up.length);
      assert.equal(gotUp.sha, sha(up));
      assert.equal(gotDown.bytes, down.length);
      assert.equal(gotDown.sha, sha(down));
      const result = await settled(rig, 10_000);
      assert.equal(result.reason, 'completed');
      assert.equal(result.bytesAToB, up.length);
      assert.equal(result.bytesBToA, down.length);
      assert.equal(result.error, undefined);
    } finally {
      rig.destroy();
    }
  });

  test('half-close from the client: upstream sees EOF and can still answer', { timeout: 10_000 }, async () => {
    const rig = await startRelay();
    try {
      const atUpstream = new Collector(rig.upstream);
      const atClient = new Collector(rig.client);
      rig.client.end(Buffer.from('request'));
      assert.equal((await atUpstream.end()).toString(), 'request');
      assert.equal(atUpstream.ended, true);
      // The upstream's writing side is still open after the client's EOF.
      rig.upstream.write(Buffer.from('answer after EOF'));
      assert.equal((await atClient.take(16)).toString(), 'answer after EOF');
      assert.equal(atClient.ended, false, 'the client must not see EOF before the upstream ends');
      rig.upstream.end(Buffer.from('!'));
      assert.equal((await atClient.end()).toString(), '!');
      const result = await settled(rig);
      assert.deepEqual({ reason: result.reason, up: result.bytesAToB, down: result.bytesBToA }, { reason: 'completed', up: 7, down: 17 });
    } finally {
      rig.destroy();
    }
  });

  test('half-close from the upstream: client sees EOF and can still send', { timeout: 10_000 }, async () => {
    const rig = await startRelay();
    try {
      const atUpstream = new Collector(rig.upstream);
      const atClient = new Collector(rig.client);
      rig.upstream.end(Buffer.from('banner'));
      assert.equal((await atClient.end()).toString(), 'banner');
      rig.client.write(Buffer.from('late'));
      assert.equal((await atUpstream.take(4)).toString(), 'late');
      assert.equal(atUpstream.ended, false);
      rig.client.end();
      await atUpstream.end();
      const result = await settled(rig);
      assert.deepEqual({ reason: result.reason, up: result.bytesAToB, down: result.bytesBToA }, { reason: 'completed', up: 4, down: 6 });
    } finally {
      rig.destroy();
    }
  });

  test('backpressure: a stalled reader bounds what the relay buffers, then everything arrives', { timeout: 45_000 }, async () => {
    const rig = await startRelay();
    const total = 64 * 1024 * 1024;
    const block = randomBytes(1024 * 1024);
    const expected = createHash('sha256');
    for (let i = 0; i < total / block.length; i++) expected.update(block);
    try {
      let written = 0;
      let writerDone = false;
      const writer = (async () => {
        for (let i = 0; i < total / block.length; i++) {
          const more = rig.client.write(block);
          written += block.length;
          if (!more) await new Promise((resolve) => rig.client.once('drain', resolve));
        }
        rig.client.end();
        writerDone = true;
      })();

      // The upstream does not read. Watch what the relay holds in user space until the writer stops making
      // progress: the relay's destination write queue plus its paused source's read buffer.
      let maxBuffered = 0;
      let lastWritten = -1;
      let still = 0;
      const deadline = Date.now() + 20_000;
      while (still < 15 && Date.now() < deadline && !writerDone) {
        await sleep(20);
        maxBuffered = Math.max(maxBuffered, rig.b.writableLength + rig.a.readableLength);
        if (written === lastWritten) still++;
        else { still = 0; lastWritten = written; }
      }
      assert.equal(writerDone, false, 'the writer finished 64 MiB into a reader that never read: no backpressure');
      assert.ok(written < total, `writer stalled after ${written} bytes`);
      assert.ok(maxBuffered < 4 * 1024 * 1024, `relay buffered ${maxBuffered} bytes while the reader was stalled`);

      const received = await hashUntilEnd(rig.upstream, 30_000);
      await withTimeout(writer, 5000, 'the writer');
      assert.equal(received.bytes, total);
      assert.equal(received.sha, expected.digest('hex'));
      rig.upstream.end();
      const result = await settled(rig);
      assert.equal(result.reason, 'completed');
      assert.equal(result.bytesAToB, total);
      assert.equal(result.bytesBToA, 0);
    } finally {
      rig.destroy();
    }
  });

  for (const side of ['client', 'upstream'] as const) {
    test(`a reset from the ${side} tears down the other side`, { timeout: 10_000 }, async () => {
      const rig = await startRelay();
      try {
        const atUpstream = new Collector(rig.upstream);
        const atClient = new Collector(rig.client);
        rig.client.write(Buffer.from('ping'));
        await atUpstream.take(4);
        const [resetter, other] = side === 'client' ? [rig.client, atUpstream] : [rig.upstream, atClient];
        resetter.resetAndDestroy();
        const result = await settled(rig);
        assert.ok(result.reason === 'reset' || result.reason === 'closed', `reason ${result.reason}`);
        if (result.reason === 'reset') assert.ok(result.error, 'a reset carries the socket error');
        assert.equal(result.bytesAToB, 4);
        await other.end();
      } finally {
        rig.destroy();
      }
    });
  }

  test('a socket destroyed with an error ends the relay with reason "error" and that error', { timeout: 10_000 }, async () => {
    const rig = await startRelay();
    try {
      const atClient = new Collector(rig.client);
      const boom = new Error('boom');
      rig.b.destroy(boom);
      const result = await settled(rig);
      assert.equal(result.reason, 'error');
      assert.equal(result.error, boom);
      await atClient.end();
    } finally {
      rig.destroy();
    }
  });

  test('a side closed without EOF ends the relay with reason "closed"', { timeout: 10_000 }, async () => {
    const rig = await startRelay();
    try {
      const atUpstream = new Collector(rig.upstream);
      rig.a.destroy();
      const result = await settled(rig);
      assert.equal(result.reason, 'closed');
      await atUpstream.end();
    } finally {
      rig.destroy();
    }
  });

  test('idle timeout of 100 ms ends a silent relay well within a second', { timeout: 10_000 }, async () => {
    const started = performance.now();
    const rig = await startRelay({ idleTimeoutMs: 100 });
    try {
      const atClient = new Collector(rig.client);
      const atUpstream = new Collector(rig.upstream);
      const result = await settled(rig, 1500);
      assert.equal(result.reason, 'idle-timeout');
      assert.ok(performance.now() - started < 1500);
      await Promise.all([atClient.end(), atUpstream.end()]);
    } finally {
      rig.destroy();
    }
  });

  test('traffic keeps an idle timer from firing', { timeout: 10_000 }, async () => {
    const rig = await startRelay({ idleTimeoutMs: 400 });
    try {
      const atUpstream = new Collector(rig.upstream);
      let state = 'running';
      void rig.result.then((r) => { state = r.reason; });
      for (let i = 0; i < 20; i++) {
        rig.client.write(Buffer.from([i]));
        await sleep(50);
      }
      assert.equal(state, 'running', 'the relay ended although bytes kept flowing');
      await atUpstream.take(20);
      const result = await settled(rig, 3000);
      assert.equal(result.reason, 'idle-timeout');
      assert.equal(result.bytesAToB, 20);
    } finally {
      rig.destroy();
    }
  });

  test('an abort signal ends the relay with reason "aborted" and closes both sides', { timeout: 10_000 }, async () => {
    const controller = new AbortController();
    const rig = await startRelay({ signal: controller.signal });
    try {
      const atClient = new Collector(rig.client);
      const atUpstream = new Collector(rig.upstream);
      rig.client.write(Buffer.from('abc'));
      await atUpstream.take(3);
      controller.abort();
      const result = await settled(rig);
      assert.equal(result.reason, 'aborted');
      assert.equal(result.bytesAToB, 3);
      await Promise.all([atClient.end(), atUpstream.end()]);
    } finally {
      rig.destroy();
    }
  });

  test('an already aborted signal ends the relay at once', { timeout: 10_000 }, async () => {
    const rig = await startRelay({ signal: AbortSignal.abort() });
    try {
      const atClient = new Collector(rig.client);
      const result = await settled(rig);
      assert.deepEqual({ reason: result.reason, up: result.bytesAToB, down: result.bytesBToA }, { reason: 'aborted', up: 0, down: 0 });
      await atClient.end();
    } finally {
      rig.destroy();
    }
  });

  test('headA and headB are delivered before anything read later, and counted', { timeout: 10_000 }, async () => {
    const rig = await startRelay({ headA: Buffer.from('HEAD-A|'), headB: Buffer.from('HEAD-B|') });
    try {
      const atClient = new Collector(rig.client);
      const atUpstream = new Collector(rig.upstream);
      rig.client.end(Buffer.from('from-a'));
      rig.upstream.end(Buffer.from('from-b'));
      assert.equal((await atUpstream.end()).toString(), 'HEAD-A|from-a');
      assert.equal((await atClient.end()).toString(), 'HEAD-B|from-b');
      const result = await settled(rig);
      assert.deepEqual({ reason: result.reason, up: result.bytesAToB, down: result.bytesBToA }, { reason: 'completed', up: 13, down: 13 });
    } finally {
      rig.destroy();
    }
  });

  test('the upstream half-closes first: the client\'s 4 MiB still arrive whole, and the relay completes only when the client ends too', { timeout: 20_000 }, async () => {
    const rig = await startRelay();
    try {
      const atClient = new Collector(rig.client);
      rig.upstream.end(Buffer.from('bye'));
      assert.equal((await atClient.end()).toString(), 'bye');
      let state = 'running';
      void rig.result.then((r) => { state = r.reason; });
      const up = randomBytes(4 * 1024 * 1024);
      const atUpstream = hashUntilEnd(rig.upstream, 15_000);
      await writeAll(rig.client, up);
      const got = await atUpstream;
      assert.deepEqual(got, { sha: sha(up), bytes: up.length });
      const result = await settled(rig);
      assert.deepEqual({ reason: result.reason, up: result.bytesAToB, down: result.bytesBToA, side: result.side }, { reason: 'completed', up: up.length, down: 3, side: undefined });
      assert.notEqual(state, 'running');
    } finally {
      rig.destroy();
    }
  });

  for (const side of ['a', 'b'] as const) {
    test(`a reset on ${side} names that side in the result`, { timeout: 10_000 }, async () => {
      const rig = await startRelay();
      try {
        const [resetter, other] = side === 'a' ? [rig.client, rig.upstream] : [rig.upstream, rig.client];
        const atOther = new Collector(other);
        resetter.write(Buffer.from('x'));
        await atOther.take(1);
        resetter.resetAndDestroy();
        // The relay notices a reset when it reads, or else when it writes to the side that was reset.
        other.write(Buffer.from('poke'));
        const result = await settled(rig);
        if (result.reason === 'reset') assert.equal(result.side, side);
        else assert.deepEqual({ reason: result.reason, side: result.side }, { reason: 'closed', side });
        await atOther.end();
      } finally {
        rig.destroy();
      }
    });
  }
});
