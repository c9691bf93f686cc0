/** The PROXY protocol codec against HAProxy's doc/proxy-protocol.txt: its examples and limits as vectors, every
 * vector split at every byte, malformed headers refused with their code, and properties (fast-check) on
 * arbitrary bytes and arbitrary valid headers. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError, type CodecErrorCode, type Decoded } from '../../lib/codec/decoded.ts';
import { bytesToIpv6, canonicalIp } from '../../lib/codec/ip.ts';
import { decodeProxyHeader, encodeProxyHeader, MAX_V1_LENGTH, type ProxyHeader, type ProxyTlv } from '../../lib/codec/proxy-protocol.ts';
import { ascii, bytes } from './vectors.ts';

const SIG = '0d0a0d0a000d0a515549540a';
const tcp = (source: string, sourcePort: number, destination: string, destinationPort: number, transport: 'tcp' | 'udp' = 'tcp'): ProxyHeader['addresses'] =>
  ({ transport, source: { host: source, port: sourcePort }, destination: { host: destination, port: destinationPort } });

interface Vector {
  readonly name: string;
  readonly hex: string;
  readonly value: ProxyHeader;
  /** encode(value) gives `hex` back (not so where the header has bytes the value drops: TLVs, UNKNOWN's tail). */
  readonly exact: boolean;
}

const MAX_V6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
const vectors: readonly Vector[] = [
  // §2.1's example line.
  { name: 'v1 TCP4 (the spec\'s example)', hex: ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'), value: { version: 1, command: 'proxy', addresses: tcp('192.168.0.1', 56324, '192.168.0.11', 443) }, exact: true },
  // §2.1's longest TCP4 line, 56 bytes.
  { name: 'v1 TCP4, longest', hex: ascii('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n'), value: { version: 1, command: 'proxy', addresses: tcp('255.255.255.255', 65535, '255.255.255.255', 65535) }, exact: true },
  { name: 'v1 TCP4, port 0', hex: ascii('PROXY TCP4 0.0.0.0 10.0.0.1 0 1080\r\n'), value: { version: 1, command: 'proxy', addresses: tcp('0.0.0.0', 0, '10.0.0.1', 1080) }, exact: true },
  // §2.1's longest TCP6 line, 104 bytes.
  { name: 'v1 TCP6, longest', hex: ascii(`PROXY TCP6 ${MAX_V6} ${MAX_V6} 65535 65535\r\n`), value: { version: 1, command: 'proxy', addresses: tcp(MAX_V6, 65535, MAX_V6, 65535) }, exact: true },
  { name: 'v1 TCP6, compressed', hex: ascii('PROXY TCP6 2001:db8::1 ::1 40000 1080\r\n'), value: { version: 1, command: 'proxy', addresses: tcp('2001:db8::1', 40000, '::1', 1080) }, exact: true },
  // Not RFC 5952 text: read all the same, given back canonical.
  { name: 'v1 TCP6, upper case and zero-padded', hex: ascii('PROXY TCP6 2001:0DB8:0000::0001 ::1 1 2\r\n'), value: { version: 1, command: 'proxy', addresses: tcp('2001:db8::1', 1, '::1', 2) }, exact: false },
  // §2.1: the short form, 15 bytes.
  { name: 'v1 UNKNOWN, short form', hex: ascii('PROXY UNKNOWN\r\n'), value: { version: 1, command: 'proxy', addresses: undefined }, exact: true },
  // §2.1's worst case, 107 bytes: what follows UNKNOWN is ignored.
  { name: 'v1 UNKNOWN, worst case (107 bytes)', hex: ascii(`PROXY UNKNOWN ${MAX_V6} ${MAX_V6} 65535 65535\r\n`), value: { version: 1, command: 'proxy', addresses: undefined }, exact: false },
  // §2.2: \x21 PROXY, \x11 TCP over IPv4, 12 address bytes.
  { name: 'v2 TCP4', hex: `${SIG} 21 11 000c c0a80001 c0a8000b dc04 01bb`, value: { version: 2, command: 'proxy', addresses: tcp('192.168.0.1', 56324, '192.168.0.11', 443) }, exact: true },
  { name: 'v2 UDP4', hex: `${SIG} 21 12 000c 0a000001 0a000002 0035 1f90`, value: { version: 2, command: 'proxy', addresses: tcp('10.0.0.1', 53, '10.0.0.2', 8080, 'udp') }, exact: true },
  { name: 'v2 TCP6', hex: `${SIG} 21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 9c40 0438`, value: { version: 2, command: 'proxy', addresses: tcp('2001:db8::1', 40000, '::1', 1080) }, exact: true },
  { name: 'v2 UDP6', hex: `${SIG} 21 22 0024 fe800000000000000000000000000001 fe800000000000000000000000000002 1234 5678`, value: { version: 2, command: 'proxy', addresses: tcp('fe80::1', 0x1234, 'fe80::2', 0x5678, 'udp') }, exact: true },
  // IPv4-mapped IPv6 is the IPv4 address it carries (as client addresses are compared everywhere else).
  { name: 'v2 TCP6, IPv4-mapped', hex: `${SIG} 21 21 0024 00000000000000000000ffff7f000005 00000000000000000000ffff7f000001 0001 0438`, value: { version: 2, command: 'proxy', addresses: tcp('127.0.0.5', 1, '127.0.0.1', 1080) }, exact: false },
  // §2.2: LOCAL (health checks), "should not present any address", family ignored.
  { name: 'v2 LOCAL', hex: `${SIG} 20 00 0000`, value: { version: 2, command: 'local', addresses: undefined }, exact: true },
  // "Receivers MUST always consider this field to skip the appropriate number of bytes".
  { name: 'v2 LOCAL with an address block', hex: `${SIG} 20 11 000c c0a80001 c0a8000b dc04 01bb`, value: { version: 2, command: 'local', addresses: undefined }, exact: false },
  { name: 'v2 PROXY, AF_UNSPEC', hex: `${SIG} 21 00 0000`, value: { version: 2, command: 'proxy', addresses: undefined }, exact: true },
  { name: 'v2 PROXY, AF_UNSPEC with ignored bytes', hex: `${SIG} 21 00 0003 ffffff`, value: { version: 2, command: 'proxy', addresses: undefined }, exact: false },
  { name: 'v2 UNIX stream', hex: `${SIG} 21 31 00d8 ${'2f'.repeat(108)} ${'00'.repeat(108)}`, value: { version: 2, command: 'proxy', addresses: undefined }, exact: false },
  // §2.2: TLVs after the address block are skipped: PP2_TYPE_ALPN "h2", PP2_TYPE_NOOP (empty), PP2_TYPE_UNIQUE_ID.
  { name: 'v2 TCP4 with TLVs', hex: `${SIG} 21 11 001b c0a80001 c0a8000b dc04 01bb 01 0002 6832 04 0000 05 0004 01020304`, value: { version: 2, command: 'proxy', addresses: tcp('192.168.0.1', 56324, '192.168.0.11', 443) }, exact: false },
];

const clean = (hex: string): string => hex.replace(/\s+/g, '');
/** The SOCKS5 greeting a client sends behind the header: the decoder must leave it alone. */
const GREETING = bytes('050100');

describe('PROXY protocol vectors', () => {
  for (const v of vectors) {
    describe(v.name, () => {
      const msg = bytes(v.hex);

      test('decodes whole, at an offset and with the SOCKS greeting behind it', () => {
        assert.deepStrictEqual(decodeProxyHeader(msg), { done: true, value: v.value, length: msg.length });
        const backing = new Uint8Array(7 + msg.length + GREETING.length).fill(0x05);
        backing.set(msg, 4);
        backing.set(GREETING, 4 + msg.length);
        const view = backing.subarray(1, 4 + msg.length + GREETING.length);
        assert.deepStrictEqual(decodeProxyHeader(view, 3), { done: true, value: v.value, length: msg.length });
      });

      test('every strict prefix asks for more, without overshooting', () => {
        for (let k = 0; k < msg.length; k++) {
          const r = decodeProxyHeader(msg.subarray(0, k));
          assert.equal(r.done, false, `prefix ${k}`);
          if (!r.done) assert.ok(r.need >= 1 && k + r.need <= msg.length, `need ${r.need} at ${k} of ${msg.length}`);
        }
      });

      test('fed byte by byte, waiting for `need` each time, gives the header', () => {
        let have = 0;
        let r: Decoded<ProxyHeader> = decodeProxyHeader(msg.subarray(0, 0));
        while (!r.done) {
          have += r.need;
          assert.ok(have <= msg.length, 'asked past the end');
          r = decodeProxyHeader(msg.subarray(0, have));
        }
        assert.equal(have, msg.length);
        assert.deepStrictEqual(r.value, v.value);
      });

      if (v.exact) test('encodes to the same bytes', () => assert.equal(encodeProxyHeader(v.value).toString('hex'), clean(v.hex)));
    });
  }

  test('the worst-case v1 line is the 107 bytes the spec allows', () => {
    const worst = vectors.find((v) => v.name.includes('worst case'));
    assert.equal(bytes(worst?.hex ?? '').length, MAX_V1_LENGTH);
  });

  test('the encoder writes TLVs the decoder skips', () => {
    const header: ProxyHeader = { version: 2, command: 'proxy', addresses: tcp('192.168.0.1', 56324, '192.168.0.11', 443) };
    const tlvs: ProxyTlv[] = [{ type: 0x01, value: bytes('6832') }, { type: 0x04, value: bytes('') }, { type: 0x05, value: bytes('01020304') }];
    const withTlvs = vectors.find((v) => v.name === 'v2 TCP4 with TLVs');
    assert.equal(encodeProxyHeader(header, tlvs).toString('hex'), clean(withTlvs?.hex ?? ''));
  });
});

function isCodecError(code: CodecErrorCode): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof CodecError, `expected a CodecError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  };
}

const malformed: ReadonlyArray<readonly [name: string, hex: string, code: CodecErrorCode]> = [
  ['a SOCKS5 greeting', '050100', 'bad-signature'],
  ['an HTTP request', ascii('GET / HTTP/1.1\r\n'), 'bad-signature'],
  ['"PROXY" in lower case', ascii('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'bad-signature'],
  ['"PROXY" without its space', ascii('PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'bad-signature'],
  ['v1 without CRLF in 107 bytes', ascii(`PROXY UNKNOWN ${'x'.repeat(100)}`), 'too-long'],
  ['v1 line of 108 bytes', ascii(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`), 'too-long'],
  ['v1 TCP6 line past 107 bytes', ascii(`PROXY TCP6 ${MAX_V6} ${MAX_V6} 0065535 0065535\r\n`), 'too-long'],
  ['v1 ending in LF alone', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), 'bad-syntax'],
  ['v1 ending in CR alone', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'), 'bad-syntax'],
  ['v1 unknown protocol', ascii('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'bad-syntax'],
  ['v1 missing a port', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 'bad-syntax'],
  ['v1 two spaces', ascii('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), 'bad-syntax'],
  ['v1 trailing space', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'), 'bad-syntax'],
  ['v1 port over 65535', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 'bad-syntax'],
  ['v1 port with a leading zero', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), 'bad-syntax'],
  ['v1 port with a sign', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n'), 'bad-syntax'],
  ['v1 IPv4 with a leading zero', ascii('PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n'), 'bad-address-type'],
  ['v1 TCP4 with an IPv6 address', ascii('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'), 'bad-address-type'],
  ['v1 TCP6 with an IPv4 address', ascii('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), 'bad-address-type'],
  ['v1 TCP6 with a zone', ascii('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), 'bad-address-type'],
  ['v1 host name', ascii('PROXY TCP4 example.com 5.6.7.8 1 2\r\n'), 'bad-address-type'],
  ['v2 signature with a wrong byte', `0d0a0d0a000d0a515549540b 21 11 000c`, 'bad-signature'],
  ['v2 version 1', `${SIG} 11 11 000c c0a80001 c0a8000b dc04 01bb`, 'bad-version'],
  ['v2 version 3', `${SIG} 31 11 000c c0a80001 c0a8000b dc04 01bb`, 'bad-version'],
  ['v2 command 2', `${SIG} 22 11 000c c0a80001 c0a8000b dc04 01bb`, 'bad-command'],
  ['v2 family 4', `${SIG} 21 41 000c c0a80001 c0a8000b dc04 01bb`, 'bad-address-type'],
  ['v2 transport 3', `${SIG} 21 13 000c c0a80001 c0a8000b dc04 01bb`, 'bad-address-type'],
  ['v2 TCP4 with a short address block', `${SIG} 21 11 000b c0a80001 c0a8000b dc04 01`, 'bad-length'],
  ['v2 TCP6 with an IPv4 block', `${SIG} 21 21 000c c0a80001 c0a8000b dc04 01bb`, 'bad-length'],
  ['v2 TLV cut short', `${SIG} 21 11 000e c0a80001 c0a8000b dc04 01bb 01 00`, 'bad-length'],
  ['v2 TLV past the header', `${SIG} 21 11 0010 c0a80001 c0a8000b dc04 01bb 01 0002 68`, 'bad-length'],
];

describe('malformed PROXY headers are refused', () => {
  for (const [name, hex, code] of malformed) {
    test(name, () => {
      const buf = bytes(hex);
      assert.throws(() => decodeProxyHeader(buf), isCodecError(code));
      assert.throws(() => decodeProxyHeader(Buffer.concat([buf, GREETING])), isCodecError(code));
      // Each prefix asks for more or throws the same: never a header.
      for (let k = 0; k < buf.length; k++) {
        try {
          assert.equal(decodeProxyHeader(buf.subarray(0, k)).done, false, `prefix ${k}`);
        } catch (error) {
          isCodecError(code)(error);
        }
      }
    });
  }

  test('a v2 header over maxLength is refused before its body arrives', () => {
    const head = bytes(`${SIG} 21 11 0800`);
    assert.throws(() => decodeProxyHeader(head, 0, { maxLength: 2048 }), isCodecError('too-long'));
    assert.deepStrictEqual(decodeProxyHeader(head), { done: false, need: 0x800 });
  });

  test('the encoder refuses what it cannot write', () => {
    assert.throws(() => encodeProxyHeader({ version: 1, command: 'local', addresses: undefined }), TypeError);
    assert.throws(() => encodeProxyHeader({ version: 1, command: 'proxy', addresses: tcp('1.2.3.4', 1, '5.6.7.8', 2, 'udp') }), TypeError);
    assert.throws(() => encodeProxyHeader({ version: 2, command: 'proxy', addresses: tcp('1.2.3.4', 1, '::1', 2) }), TypeError);
    assert.throws(() => encodeProxyHeader({ version: 2, command: 'proxy', addresses: tcp('1.2.3.4', 65536, '5.6.7.8', 2) }), TypeError);
  });
});

// ---------------------------------------------------------------- properties

const numRuns = 500;
const port = fc.integer({ min: 0, max: 0xffff });
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Array.from(b).join('.'));
// Not IPv4-mapped: those decode as IPv4, so they do not round-trip as IPv6 (a vector pins that).
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => bytesToIpv6(b, 0)).filter((text) => canonicalIp(text) === text);
const endpoints = fc.oneof(fc.tuple(ipv4, ipv4), fc.tuple(ipv6, ipv6));
// Spread into plain objects: fc.record makes null-prototype ones, which deepStrictEqual tells apart.
const header: fc.Arbitrary<ProxyHeader> = fc.oneof(
  fc.record({ version: fc.constant(1 as const), command: fc.constant('proxy' as const), addresses: fc.option(fc.tuple(endpoints, port, port).map(([[s, d], sp, dp]) => tcp(s, sp, d, dp)), { nil: undefined }) }),
  fc.record({ version: fc.constant(2 as const), command: fc.constant('proxy' as const), addresses: fc.option(fc.tuple(endpoints, port, port, fc.constantFrom('tcp' as const, 'udp' as const)).map(([[s, d], sp, dp, t]) => tcp(s, sp, d, dp, t)), { nil: undefined }) }),
  fc.constant<ProxyHeader>({ version: 2, command: 'local', addresses: undefined }),
).map((h) => ({ ...h }));
const tlvs = fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 4 });

describe('PROXY protocol properties', () => {
  test('decode(encode(h)) is h, whole and split anywhere, with TLVs skipped', () => {
    fc.assert(fc.property(header, tlvs, fc.nat(), (h, extra, split) => {
      const encoded = encodeProxyHeader(h, h.version === 2 && h.command === 'proxy' ? extra : []);
      assert.deepStrictEqual(decodeProxyHeader(encoded), { done: true, value: h, length: encoded.length });
      const k = split % encoded.length;
      assert.equal(decodeProxyHeader(encoded.subarray(0, k)).done, false);
      assert.deepStrictEqual(decodeProxyHeader(Buffer.concat([encoded, GREETING])), { done: true, value: h, length: encoded.length });
    }), { numRuns });
  });

  test('arbitrary bytes give a header, need or a CodecError, and nothing else', () => {
    const starts = [bytes(SIG), bytes(`${SIG}21`), bytes(`${SIG}2111`), bytes(`${SIG}211100`), Buffer.from('PROXY '), Buffer.from('PROXY TCP4 '), Buffer.from('PROXY TCP6 '), Buffer.from('PROXY UNKNOWN')];
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(fc.constantFrom(...starts), fc.uint8Array({ maxLength: 120 })).map(([head, tail]) => Buffer.concat([head, tail])),
      fc.tuple(fc.constantFrom(...starts), fc.string({ unit: fc.constantFrom(...'0123456789abcdef.: \r\n'.split('')), maxLength: 110 })).map(([head, tail]) => Buffer.concat([head, Buffer.from(tail)])),
      fc.tuple(header, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([h, at, value]) => {
        const b = Buffer.from(encodeProxyHeader(h));
        b[at % b.length] = value;
        return b;
      }),
    );
    fc.assert(fc.property(input, (buf) => {
      let r: Decoded<ProxyHeader>;
      try {
        r = decodeProxyHeader(buf);
      } catch (error) {
        assert.ok(error instanceof CodecError, `threw ${String(error)} on ${Buffer.from(buf).toString('hex')}`);
        return;
      }
      if (!r.done) {
        assert.ok(Number.isInteger(r.need) && r.need >= 1);
        // v1 is never longer than 107 bytes: with that many it decided.
        if (buf[0] === 0x50) assert.ok(buf.length < MAX_V1_LENGTH);
        return;
      }
      assert.ok(r.length >= 15 && r.length <= buf.length);
      assert.deepStrictEqual(decodeProxyHeader(new Uint8Array(buf.subarray(0, r.length))), r);
    }), { numRuns: 2000 });
  });
});
