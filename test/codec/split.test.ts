/** Stream properties of every valid vector: a message split anywhere decodes the same as whole, every strict
 * prefix asks for more (never throws), offsets work, and trailing bytes are left alone. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { type Decoded } from '../../lib/codec/decoded.ts';
import { bytes, canon, vectors, type Vector } from './vectors.ts';

function assertNeed(r: Decoded<unknown>, have: number, v: Vector, what: string): void {
  assert.equal(r.done, false, `${what}: expected done:false with ${have} of ${v.minLength} bytes, got ${JSON.stringify(canon(r))}`);
  if (r.done) return;
  assert.ok(Number.isInteger(r.need) && r.need >= 1, `${what}: need must be an integer >= 1, got ${r.need}`);
  // `need` is a lower bound: asking for more than the message has would stall a reader that waits for it.
  assert.ok(have + r.need <= v.minLength, `${what}: need ${r.need} with ${have} bytes overshoots the ${v.minLength}-byte message`);
}

function assertWhole(r: Decoded<unknown>, v: Vector, length: number, what: string): void {
  assert.ok(r.done, `${what}: expected a message, got ${JSON.stringify(r)}`);
  assert.deepStrictEqual(canon(r.value), canon(v.value), what);
  assert.equal(r.length, length, `${what}: length`);
}

/** The message at `at` in a larger ArrayBuffer, as a view that itself starts at a non-zero byteOffset. */
function embed(message: Uint8Array, before: number, after: Uint8Array): { buf: Uint8Array; offset: number } {
  const lead = 5;
  const backing = new Uint8Array(lead + before + message.length + after.length + 3).fill(0xa5);
  backing.set(message, lead + before);
  backing.set(after, lead + before + message.length);
  return { buf: backing.subarray(lead, lead + before + message.length + after.length), offset: before };
}

for (const v of vectors) {
  describe(v.name, () => {
    const msg = bytes(v.hex);

    test('every strict prefix gives done:false with need >= 1 and never throws', () => {
      for (let k = 0; k < v.minLength; k++) assertNeed(v.decode(msg.subarray(0, k)), k, v, `prefix ${k}`);
      if (v.datagram) {
        // A datagram is never split in transit; a prefix holding the header decodes with the payload it has.
        for (let k = v.minLength; k <= msg.length; k++) {
          const r = v.decode(msg.subarray(0, k));
          assert.ok(r.done, `prefix ${k}`);
          assert.equal(r.length, k);
        }
      }
    });

    test('fed byte by byte, waiting for `need` bytes each time, gives the whole message', () => {
      let acc: Buffer = Buffer.alloc(0);
      let waitFor = 1;
      let result: Decoded<unknown> | undefined;
      for (const byte of msg) {
        acc = Buffer.concat([acc, Buffer.from([byte])]);
        if (--waitFor > 0) continue;
        const r = v.decode(acc);
        if (r.done) { result = r; if (!v.datagram) break; } else { waitFor = r.need; result = r; }
      }
      assert.ok(result);
      assertWhole(result, v, msg.length, 'byte by byte');
    });

    test('split at every point gives the same result as whole', () => {
      for (let k = 0; k <= msg.length; k++) {
        const first = Buffer.from(msg.subarray(0, k));
        const second = Buffer.from(msg.subarray(k));
        if (k < v.minLength) assertNeed(v.decode(first), k, v, `first part of split at ${k}`);
        // Buffer.concat allocates from the shared pool: the result usually sits at a non-zero byteOffset.
        assertWhole(v.decode(Buffer.concat([first, second])), v, msg.length, `split at ${k}`);
      }
    });

    test('decodes at a non-zero offset inside a larger buffer', () => {
      const tail = v.datagram ? new Uint8Array(0) : new Uint8Array([0xff, 0x00, 0x05]);
      for (const before of [1, 2, 3, 7, 64]) {
        const { buf, offset } = embed(msg, before, tail);
        assertWhole(v.decode(buf, offset), v, msg.length, `offset ${before}`);
        for (let k = 0; k < v.minLength; k++) {
          assertNeed(v.decode(buf.subarray(0, offset + k), offset), k, v, `offset ${before}, prefix ${k}`);
        }
      }
    });

    if (v.datagram) {
      test('a datagram takes every byte after the header as payload', () => {
        const extra = new Uint8Array([1, 2, 3]);
        const r = v.decode(Buffer.concat([msg, extra]));
        assert.ok(r.done);
        assert.equal(r.length, msg.length + 3);
        const payload = (r.value as { payload: Uint8Array }).payload;
        assert.deepStrictEqual(Array.from(payload.subarray(payload.length - 3)), [1, 2, 3]);
      });
    } else {
      test('trailing bytes are not consumed', () => {
        for (const trailer of [bytes('00'), bytes('ff'), bytes('0500'), bytes('00'.repeat(300)), msg]) {
          assertWhole(v.decode(Buffer.concat([msg, trailer])), v, msg.length, `trailer ${trailer.length} bytes`);
          const { buf, offset } = embed(msg, 3, trailer);
          assertWhole(v.decode(buf, offset), v, msg.length, `offset 3, trailer ${trailer.length} bytes`);
        }
      });

      test('two pipelined messages decode one after the other', () => {
        const two = Buffer.concat([msg, msg]);
        const first = v.decode(two);
        assertWhole(first, v, msg.length, 'first');
        if (!first.done) return;
        assertWhole(v.decode(two, first.length), v, msg.length, 'second');
        assertNeed(v.decode(two.subarray(0, msg.length + 1), first.length), 1, v, 'second, one byte in');
      });
    }
  });
}
