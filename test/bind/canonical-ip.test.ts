/** canonicalIp (lib/codec/ip.ts), which BIND uses to compare a peer's address with DST.ADDR and to announce
 * its own: one spelling per address. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIp } from '../../lib/codec/ip.ts';

const vectors: ReadonlyArray<readonly [string, string]> = [
  ['127.0.0.1', '127.0.0.1'],
  ['::1', '::1'],
  ['0:0:0:0:0:0:0:1', '::1'],
  ['::', '::'],
  ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['::ffff:127.0.0.1', '127.0.0.1'],
  ['::FFFF:7f00:1', '127.0.0.1'],
  ['fe80::1%eth0', 'fe80::1'],
  ['localhost', 'localhost'],
];

for (const [input, expected] of vectors) {
  test(`canonicalIp(${JSON.stringify(input)}) is ${JSON.stringify(expected)}`, () => {
    assert.equal(canonicalIp(input), expected);
  });
}
