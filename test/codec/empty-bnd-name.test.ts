/** An empty BND.ADDR name: `05 00 00 03 00 PORT`, the shortest SOCKS5 reply, which some servers send and
 * browsers accept. Replies take it; a request (DST.ADDR) and a UDP header still refuse it. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readAddress } from '../../lib/codec/address.ts';
import { CodecError } from '../../lib/codec/decoded.ts';
import { decodeReply, decodeRequest, decodeUdpDatagram } from '../../lib/codec/socks5.ts';
import { bytes } from './vectors.ts';

const SHORTEST = '05 00 00 03 00 0000';

describe('a reply with an empty BND.ADDR name', () => {
  test('decodes whole, in 7 bytes, to an empty domain', () => {
    assert.deepEqual(decodeReply(bytes(SHORTEST)), { done: true, value: { reply: 0, address: { type: 'domain', host: '', port: 0 } }, length: 7 });
    assert.deepEqual(decodeReply(bytes('05 00 00 03 00 1f90')), { done: true, value: { reply: 0, address: { type: 'domain', host: '', port: 8080 } }, length: 7 });
  });

  test('bytes behind it are not part of it (data that follows the reply)', () => {
    const buf = Buffer.concat([bytes(SHORTEST), Buffer.from('SSH-2.0-x\r\n')]);
    const r = decodeReply(buf);
    assert.ok(r.done);
    assert.equal(r.length, 7);
  });

  test('every proper prefix asks for more, never throws', () => {
    const whole = bytes(SHORTEST);
    for (let n = 0; n < whole.length; n++) {
      const r = decodeReply(whole.subarray(0, n));
      assert.equal(r.done, false, `prefix of ${n} bytes`);
    }
  });

  test('at an offset', () => {
    const r = decodeReply(Buffer.concat([bytes('ffff'), bytes(SHORTEST)]), 2);
    assert.ok(r.done);
    assert.equal(r.length, 7);
  });
});

describe('an empty name is still refused where a name must be given', () => {
  const badLength = (e: unknown): boolean => e instanceof CodecError && e.code === 'bad-length';
  test('request DST.ADDR', () => assert.throws(() => decodeRequest(bytes('05 01 00 03 00 0050')), badLength));
  test('UDP header', () => assert.throws(() => decodeUdpDatagram(bytes('00 00 00 03 00 0035 ff')), badLength));
  test('readAddress by default', () => assert.throws(() => readAddress(bytes('03 00 0050'), 0), badLength));
  test('readAddress with allowEmptyName', () => {
    assert.deepEqual(readAddress(bytes('03 00 0050'), 0, { allowEmptyName: true }), { done: true, value: { type: 'domain', host: '', port: 80 }, length: 4 });
  });
});
