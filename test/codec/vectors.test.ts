import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { commandName, methodName, replyName, socks4ReplyName } from '../../lib/codec/constants.ts';
import { bytesToIpv6, ipv6ToBytes } from '../../lib/codec/ip.ts';
import { encodeUdpHeader } from '../../lib/codec/socks5.ts';
import { bytes, canon, IPV6_CASES, REPLY_NAMES, vectors } from './vectors.ts';

describe('RFC vectors: decode gives the value and length, encode gives the bytes back', () => {
  test('vector names are unique', () => {
    assert.equal(new Set(vectors.map((v) => v.name)).size, vectors.length);
  });

  for (const v of vectors) {
    test(v.name, () => {
      const buf = bytes(v.hex);
      const r = v.decode(buf);
      assert.ok(r.done, `expected a whole message, got ${JSON.stringify(r)}`);
      assert.deepStrictEqual(canon(r.value), canon(v.value));
      assert.equal(r.length, buf.length);

      const encoded = v.encode();
      assert.ok(Buffer.isBuffer(encoded), 'encoders return Buffers');
      assert.equal(encoded.toString('hex'), v.hex);

      // A Buffer input (pooled, so usually at a non-zero byteOffset of its ArrayBuffer) decodes the same.
      const pooled = Buffer.from(v.hex, 'hex');
      const again = v.decode(pooled);
      assert.ok(again.done);
      assert.deepStrictEqual(canon(again.value), canon(v.value));
      assert.equal(again.length, pooled.length);
    });
  }
});

describe('IPv6 text form (RFC 5952)', () => {
  for (const [text, hex] of IPV6_CASES) {
    test(`${hex.replace(/ /g, '')} <-> ${text}`, () => {
      const b = bytes(hex);
      assert.equal(bytesToIpv6(b, 0), text);
      const out = new Uint8Array(16);
      ipv6ToBytes(text, out, 0);
      assert.deepStrictEqual(out, b);
    });
  }

  test('non-canonical text parses to the same bytes', () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['0:0:0:0:0:0:0:1', '::1'],
      ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
      ['2001:DB8::1', '2001:db8::1'],
      ['2001:0db8:0:0:0:0:0:1', '2001:db8::1'],
      ['::FFFF:1.2.3.4', '::ffff:1.2.3.4'],
      ['::ffff:102:304', '::ffff:1.2.3.4'],
      ['fe80:0:0:0:1::1', 'fe80::1:0:0:1'],
      ['fe80::1:0:0:1', 'fe80::1:0:0:1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
      ['::1.2.3.4', '::102:304'],
    ];
    for (const [input, canonical] of cases) {
      const out = new Uint8Array(16);
      ipv6ToBytes(input, out, 0);
      assert.equal(bytesToIpv6(out, 0), canonical, input);
    }
  });

  test('writes and reads at an offset', () => {
    const out = new Uint8Array(20).fill(0xaa);
    ipv6ToBytes('2001:db8::1', out, 3);
    assert.deepStrictEqual(Array.from(out.subarray(0, 3)), [0xaa, 0xaa, 0xaa]);
    assert.deepStrictEqual(Array.from(out.subarray(19)), [0xaa]);
    assert.equal(bytesToIpv6(out, 3), '2001:db8::1');
  });

  test('rejects text that is not IPv6 with a TypeError (caller input, not peer input)', () => {
    for (const bad of ['', '1.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', '[::1]', 'g::1', '::ffff:1.2.3.04']) {
      assert.throws(() => ipv6ToBytes(bad, new Uint8Array(16), 0), TypeError, bad);
    }
  });
});

describe('code names', () => {
  for (const [code, name] of REPLY_NAMES) {
    test(`replyName(0x${code.toString(16).padStart(2, '0')}) is "${name}"`, () => {
      assert.equal(replyName(code), name);
    });
  }

  test('the reply vectors cover REP 0x00-0x08 and unassigned 0x09, 0xFF', () => {
    const seen = new Set<number>();
    for (const v of vectors) {
      if (v.codec !== 'SOCKS5 reply') continue;
      const r = v.decode(bytes(v.hex));
      if (r.done) seen.add((r.value as { reply: number }).reply);
    }
    for (const [code] of REPLY_NAMES) assert.ok(seen.has(code), `no vector for REP 0x${code.toString(16)}`);
  });

  test('socks4ReplyName', () => {
    assert.equal(socks4ReplyName(0x5a), 'request granted');
    assert.equal(socks4ReplyName(0x5b), 'request rejected or failed');
    assert.equal(socks4ReplyName(0x5c), 'request rejected: cannot connect to identd on the client');
    assert.equal(socks4ReplyName(0x5d), 'request rejected: identd reports a different user-id');
    assert.equal(socks4ReplyName(0x00), 'unknown reply 0x00');
    assert.equal(socks4ReplyName(0x5e), 'unknown reply 0x5e');
  });

  test('methodName', () => {
    assert.equal(methodName(0x00), 'no authentication');
    assert.equal(methodName(0x01), 'GSSAPI');
    assert.equal(methodName(0x02), 'username/password');
    assert.equal(methodName(0xff), 'no acceptable methods');
    assert.equal(methodName(0x03), 'method 0x03');
    assert.equal(methodName(0x80), 'method 0x80');
  });

  test('commandName', () => {
    assert.equal(commandName(1), 'connect');
    assert.equal(commandName(2), 'bind');
    assert.equal(commandName(3), 'udp');
    assert.equal(commandName(0), undefined);
    assert.equal(commandName(4), undefined);
    assert.equal(commandName(0xff), undefined);
  });
});

describe('RFC 1928 §7 UDP header on its own (both sides write it with the codec)', () => {
  test('IPv4, IPv6 and name headers, FRAG carried', () => {
    assert.deepEqual(encodeUdpHeader({ type: 'ipv4', host: '127.0.0.1', port: 53 }), Buffer.from('000000017f0000010035', 'hex'));
    assert.deepEqual(encodeUdpHeader({ type: 'ipv6', host: '::1', port: 80 }, 2), Buffer.from('00000204000000000000000000000000000000010050', 'hex'));
    assert.deepEqual(encodeUdpHeader({ type: 'domain', host: 'a.b', port: 1 }), Buffer.from('0000000303612e620001', 'hex'));
  });
});
