import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressLength, formatAddress, isUnspecified, MAX_DOMAIN_LENGTH, readAddress, toAddress, writeAddress, type Address,
} from '../../lib/codec/address.ts';
import { bytes, LONGEST_NAME } from './vectors.ts';

describe('toAddress', () => {
  test('IPv4 literals are ipv4', () => {
    assert.deepStrictEqual(toAddress('127.0.0.1', 80), { type: 'ipv4', host: '127.0.0.1', port: 80 });
    assert.deepStrictEqual(toAddress('0.0.0.0', 0), { type: 'ipv4', host: '0.0.0.0', port: 0 });
  });

  test('IPv6 literals are ipv6', () => {
    assert.deepStrictEqual(toAddress('::1', 1), { type: 'ipv6', host: '::1', port: 1 });
    assert.deepStrictEqual(toAddress('2001:db8::1', 443), { type: 'ipv6', host: '2001:db8::1', port: 443 });
    assert.deepStrictEqual(toAddress('::ffff:1.2.3.4', 443), { type: 'ipv6', host: '::ffff:1.2.3.4', port: 443 });
  });

  test('brackets around IPv6 are stripped', () => {
    assert.deepStrictEqual(toAddress('[::1]', 1), { type: 'ipv6', host: '::1', port: 1 });
    assert.deepStrictEqual(toAddress('[2001:db8::1]', 8080), { type: 'ipv6', host: '2001:db8::1', port: 8080 });
  });

  test('names are domain', () => {
    assert.deepStrictEqual(toAddress('example.com', 443), { type: 'domain', host: 'example.com', port: 443 });
    assert.deepStrictEqual(toAddress('localhost', 80), { type: 'domain', host: 'localhost', port: 80 });
    assert.deepStrictEqual(toAddress('a', 1), { type: 'domain', host: 'a', port: 1 });
    // Not IP literals, so names (a resolver may reject them; the codec does not guess).
    assert.equal(toAddress('1.2.3', 1).type, 'domain');
    assert.equal(toAddress('1.2.3.4.5', 1).type, 'domain');
    assert.equal(toAddress('256.0.0.1', 1).type, 'domain');
    assert.equal(toAddress('[::1', 1).type, 'domain');
  });

  test('what toAddress gives encodes and decodes back', () => {
    for (const host of ['127.0.0.1', '::1', '[::1]', '2001:db8::1', '::ffff:1.2.3.4', 'example.com']) {
      const address = toAddress(host, 1080);
      const out = new Uint8Array(addressLength(address));
      assert.equal(writeAddress(address, out, 0), out.length);
      assert.deepStrictEqual(readAddress(out, 0), { done: true, value: address, length: out.length });
    }
  });
});

describe('formatAddress', () => {
  test('IPv4 and names as host:port', () => {
    assert.equal(formatAddress({ host: '127.0.0.1', port: 80 }), '127.0.0.1:80');
    assert.equal(formatAddress(toAddress('example.com', 443)), 'example.com:443');
    assert.equal(formatAddress({ host: '0.0.0.0', port: 0 }), '0.0.0.0:0');
  });

  test('IPv6 in brackets', () => {
    assert.equal(formatAddress({ host: '::1', port: 1080 }), '[::1]:1080');
    assert.equal(formatAddress(toAddress('2001:db8::1', 443)), '[2001:db8::1]:443');
    assert.equal(formatAddress({ host: '::', port: 0 }), '[::]:0');
    assert.equal(formatAddress({ host: '::ffff:1.2.3.4', port: 80 }), '[::ffff:1.2.3.4]:80');
  });

  test('formatAddress ∘ toAddress is the identity on host:port text', () => {
    for (const text of ['127.0.0.1:80', '[::1]:1080', 'example.com:443', '[2001:db8::1]:0']) {
      const at = text.lastIndexOf(':');
      assert.equal(formatAddress(toAddress(text.slice(0, at), Number(text.slice(at + 1)))), text);
    }
  });
});

describe('isUnspecified', () => {
  test('0.0.0.0 and :: are unspecified', () => {
    assert.equal(isUnspecified({ type: 'ipv4', host: '0.0.0.0', port: 0 }), true);
    assert.equal(isUnspecified({ type: 'ipv6', host: '::', port: 1080 }), true);
    assert.equal(isUnspecified(toAddress('0.0.0.0', 1)), true);
    assert.equal(isUnspecified(toAddress('[::]', 1)), true);
  });

  test('decoded unspecified addresses are unspecified', () => {
    const v4 = readAddress(bytes('01 00000000 0000'), 0);
    const v6 = readAddress(bytes(`04 ${'00'.repeat(16)} 0000`), 0);
    assert.ok(v4.done && v6.done);
    assert.equal(isUnspecified(v4.value), true);
    assert.equal(isUnspecified(v6.value), true);
  });

  test('other addresses are not', () => {
    const others: Address[] = [
      { type: 'ipv4', host: '127.0.0.1', port: 0 },
      { type: 'ipv4', host: '0.0.0.1', port: 0 },
      { type: 'ipv6', host: '::1', port: 0 },
      { type: 'ipv6', host: '::ffff:0.0.0.0', port: 0 },
      { type: 'domain', host: '0.0.0.0', port: 0 },
      { type: 'domain', host: '::', port: 0 },
      { type: 'domain', host: 'example.com', port: 0 },
    ];
    for (const a of others) assert.equal(isUnspecified(a), false, JSON.stringify(a));
  });

  // toAddress keeps the caller's text, and isUnspecified compares text: a non-canonical spelling of :: is
  // missed. Only matters for addresses that did not come off the wire (decoded ones are canonical).
  test('non-canonical spellings of :: are unspecified', () => {
    for (const host of ['0:0:0:0:0:0:0:0', '::0', '0::', '0::0']) {
      assert.equal(isUnspecified(toAddress(host, 0)), true, host);
    }
  });
});

describe('addressLength, writeAddress and readAddress', () => {
  const cases: ReadonlyArray<readonly [Address, string]> = [
    [{ type: 'ipv4', host: '192.0.2.1', port: 53 }, '01 c0000201 0035'],
    [{ type: 'ipv6', host: '2001:db8::1', port: 443 }, '04 20010db8000000000000000000000001 01bb'],
    [{ type: 'domain', host: 'a', port: 80 }, '03 01 61 0050'],
    [{ type: 'domain', host: LONGEST_NAME, port: 65535 }, `03 ff ${Buffer.from(LONGEST_NAME).toString('hex')} ffff`],
  ];
  for (const [address, hex] of cases) {
    test(`${address.type} ${address.host.slice(0, 20)}`, () => {
      const expected = bytes(hex);
      assert.equal(addressLength(address), expected.length);
      const out = new Uint8Array(expected.length + 4).fill(0xee);
      assert.equal(writeAddress(address, out, 2), 2 + expected.length);
      assert.deepStrictEqual(out.subarray(2, 2 + expected.length), expected);
      assert.deepStrictEqual(Array.from(out.subarray(0, 2)), [0xee, 0xee], 'nothing written before offset');
      assert.deepStrictEqual(Array.from(out.subarray(2 + expected.length)), [0xee, 0xee], 'nothing written after');
      assert.deepStrictEqual(readAddress(out, 2), { done: true, value: address, length: expected.length });
    });
  }

  test('domain length is counted in UTF-8 bytes', () => {
    const address: Address = { type: 'domain', host: 'bücher.example', port: 80 };
    assert.equal(addressLength(address), 1 + 1 + 15 + 2);
    const out = new Uint8Array(addressLength(address));
    writeAddress(address, out, 0);
    assert.equal(out[1], 15);
    assert.deepStrictEqual(readAddress(out, 0), { done: true, value: address, length: out.length });
  });

  test('MAX_DOMAIN_LENGTH is 255', () => {
    assert.equal(MAX_DOMAIN_LENGTH, 255);
  });
});
