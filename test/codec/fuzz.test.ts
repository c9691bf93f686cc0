/** Property tests (fast-check): decoders are total on arbitrary bytes (a message, "need more", or a CodecError;
 * never another exception), encode/decode round-trips arbitrary valid messages, and the IPv6 text form is
 * RFC 5952.
 *
 * IPv6 oracle: WHATWG URL host serialization (`new URL('http://[' + text + ']').hostname`), which is exactly the
 * RFC 5952 §4 algorithm (lower case, no leading zeros, the first longest run of two or more zero groups as
 * "::") except that it never uses mixed notation, so IPv4-mapped addresses (which RFC 5952 §5 writes as
 * ::ffff:a.b.c.d) are compared after passing both sides through URL. `net.SocketAddress` is NOT used as an
 * oracle: it prints any ::/96 address in the deprecated IPv4-compatible form (e.g. "::16.72.85.191" for
 * ::1048:55bf), which RFC 5952 §5 does not recommend. `net.isIPv6` checks the text is valid, and the bytes
 * round trip checks it means the same address. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { readAddress, type Address } from '../../lib/codec/address.ts';
import { CodecError, type Decoded } from '../../lib/codec/decoded.ts';
import { bytesToIpv6, ipv6ToBytes } from '../../lib/codec/ip.ts';
import { peekVersion } from '../../lib/codec/version.ts';
import { type Socks4Request } from '../../lib/codec/socks4.ts';
import { allDecoders, bytes, canon, codecs, vectors, type Codec } from './vectors.ts';

const numRuns = 500;
// Lengths: fast-check's default size keeps arrays and strings to a handful of elements whatever maxLength says;
// `size: 'max'` spreads them over the whole range (edges included), which the 255-byte limits need.

// ---------------------------------------------------------------- decoders are total

type AnyDecoder = (buf: Uint8Array, offset?: number) => Decoded<unknown>;

const decoders: ReadonlyArray<{ name: string; decode: AnyDecoder; datagram: boolean; zeroLength?: boolean }> = [
  ...allDecoders,
  { name: 'readAddress', decode: (buf, offset = 0) => readAddress(buf, offset), datagram: false },
  { name: 'peekVersion', decode: peekVersion, datagram: false, zeroLength: true },
];

/** Plausible starts (the first bytes of every valid vector) so random tails get past the version checks. */
const heads = [...new Set(vectors.flatMap((v) => [2, 3, 4, 5, 9].map((n) => v.hex.slice(0, 2 * n))))].map(bytes);

const arbitraryInput = fc.record({
  buf: fc.oneof(
    fc.uint8Array({ maxLength: 600, size: 'max' }),
    fc.tuple(fc.constantFrom(...heads), fc.uint8Array({ maxLength: 300, size: 'max' })).map(([h, t]) => Buffer.concat([h, t])),
    // A valid message with a few bytes changed, cut short or extended.
    fc.tuple(
      fc.constantFrom(...vectors.map((v) => bytes(v.hex))),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      fc.nat(),
      fc.uint8Array({ maxLength: 8 }),
    ).map(([msg, edits, cut, tail]) => {
      const b = new Uint8Array(msg);
      for (const [at, value] of edits) if (b.length > 0) b[at % b.length] = value;
      return Buffer.concat([b.subarray(0, cut % (b.length + 1)), tail]);
    }),
  ),
  lead: fc.integer({ min: 0, max: 7 }),
  offset: fc.integer({ min: 0, max: 10 }),
});

function decodeOrCodecError(decode: AnyDecoder, buf: Uint8Array, offset: number): Decoded<unknown> | CodecError {
  try {
    return decode(buf, offset);
  } catch (e) {
    if (e instanceof CodecError) return e;
    throw new Error(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} on ${Buffer.from(buf).toString('hex')} at ${offset}`);
  }
}

describe('decoders on arbitrary bytes give done, need or a CodecError, and nothing else', () => {
  for (const d of decoders) {
    test(d.name, () => {
      fc.assert(fc.property(arbitraryInput, ({ buf: raw, lead, offset: rawOffset }) => {
        // The input as a view at a non-zero byteOffset of its ArrayBuffer, with garbage before `offset`.
        const backing = new Uint8Array(lead + raw.length + 2).fill(0x5a);
        backing.set(raw, lead);
        const buf = backing.subarray(lead, lead + raw.length);
        const offset = Math.min(rawOffset, buf.length);
        const r = decodeOrCodecError(d.decode, buf, offset);
        if (r instanceof CodecError) {
          assert.ok(['bad-version', 'bad-address-type', 'bad-length', 'bad-reserved', 'too-long'].includes(r.code), r.code);
          return;
        }
        if (!r.done) {
          assert.ok(Number.isInteger(r.need) && r.need >= 1, `need ${r.need}`);
          return;
        }
        assert.ok(Number.isInteger(r.length), `length ${r.length}`);
        assert.ok(r.length >= (d.zeroLength ? 0 : 1) && offset + r.length <= buf.length, `length ${r.length}`);
        if (d.datagram) assert.equal(r.length, buf.length - offset);
        if (d.zeroLength) return; // peekVersion looks at a byte without taking it
        // The bytes it claims are enough on their own, and give the same value from a fresh copy.
        const own = new Uint8Array(buf.subarray(offset, offset + r.length));
        const again = d.decode(own);
        assert.ok(again.done);
        assert.deepStrictEqual(canon(again.value), canon(r.value));
        assert.equal(again.length, r.length);
      }), { numRuns });
    });
  }
});

// ---------------------------------------------------------------- round trips

const byte = fc.integer({ min: 0, max: 255 });
const port = fc.integer({ min: 0, max: 0xffff });
/** ASCII, control characters and NUL included (SOCKS5 fields are length-prefixed). */
const asciiChar = fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c));
/** ASCII without NUL (SOCKS4 fields are NUL-terminated). */
const asciiNoNul = fc.integer({ min: 1, max: 0x7f }).map((c) => String.fromCharCode(c));

/** 16 bytes, biased to zero and 0xffff groups so zero runs and IPv4-mapped forms come up often. */
const ipv6Groups = fc.array(
  fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.constant(0xffff), weight: 1 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 4 }),
  { minLength: 8, maxLength: 8 },
);
const groupsToBytes = (groups: readonly number[]): Uint8Array => new Uint8Array(groups.flatMap((g) => [g >> 8, g & 0xff]));
const ipv6Bytes = fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), ipv6Groups.map(groupsToBytes));

/** Other spellings of the same IPv6 address: zero-padded, upper case, any zero run (not just the longest)
 * as "::", and an IPv4 tail. */
function ipv6Spelling(b: Uint8Array, o: { pad: boolean; upper: boolean; compress: number | null; v4: boolean }): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  const hexCount = o.v4 ? 6 : 8;
  const tokens = groups.slice(0, hexCount).map((g) => {
    const t = o.pad ? g.toString(16).padStart(4, '0') : g.toString(16);
    return o.upper ? t.toUpperCase() : t;
  });
  if (o.v4) tokens.push(`${b[12]}.${b[13]}.${b[14]}.${b[15]}`);
  const runs: Array<[number, number]> = [];
  for (let i = 0; i < hexCount; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < hexCount && groups[j] === 0) j++;
    runs.push([i, j]);
    i = j;
  }
  const run = o.compress === null || runs.length === 0 ? undefined : runs[o.compress % runs.length];
  if (!run) return tokens.join(':');
  return `${tokens.slice(0, run[0]).join(':')}::${tokens.slice(run[1]).join(':')}`;
}
const spellingOptions = fc.record({ pad: fc.boolean(), upper: fc.boolean(), compress: fc.option(fc.nat()), v4: fc.boolean() });

/** An address to encode and the address decoding must give back (IPv6 text normalized by the codec). */
interface AddressCase { readonly input: Address; readonly expected: Address }

const ipv4Case = fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), port).map(([b, p]): AddressCase => {
  const a: Address = { type: 'ipv4', host: Array.from(b).join('.'), port: p };
  return { input: a, expected: a };
});
const ipv6Case = fc.tuple(ipv6Bytes, spellingOptions, port).map(([b, o, p]): AddressCase => ({
  input: { type: 'ipv6', host: ipv6Spelling(b, o), port: p },
  expected: { type: 'ipv6', host: bytesToIpv6(b, 0), port: p },
}));
const domainCase = fc.tuple(fc.string({ unit: asciiChar, minLength: 1, maxLength: 255, size: 'max' }), port).map(([host, p]): AddressCase => {
  const a: Address = { type: 'domain', host, port: p };
  return { input: a, expected: a };
});
const addressCase = fc.oneof(ipv4Case, ipv6Case, domainCase);

/** encode(input) decodes to `expected` using every byte, re-encodes to the same bytes, and decodes the same when
 * split or placed at an offset. */
function roundTrip<T>(c: Codec<T>, input: T, expected: T, split: number, lead: number): void {
  const encoded = c.encode(input);
  const r = c.decode(encoded);
  assert.ok(r.done, `${c.name}: ${encoded.toString('hex')} did not decode`);
  assert.deepStrictEqual(canon(r.value), canon(expected));
  assert.equal(r.length, encoded.length);
  assert.equal(c.encode(r.value).toString('hex'), encoded.toString('hex'), 'encode(decode(bytes)) is bytes');

  const k = split % (encoded.length + 1);
  const prefix = c.decode(encoded.subarray(0, k));
  if (k < encoded.length && !c.datagram) {
    assert.equal(prefix.done, false, `prefix ${k} of ${encoded.toString('hex')}`);
    if (!prefix.done) assert.ok(prefix.need >= 1 && k + prefix.need <= encoded.length, `need ${prefix.need} at ${k}`);
  }
  const shifted = Buffer.concat([Buffer.alloc(lead, 0xff), encoded, c.datagram ? Buffer.alloc(0) : Buffer.from([0, 5, 1])]);
  const atOffset = c.decode(shifted, lead);
  assert.ok(atOffset.done);
  assert.deepStrictEqual(canon(atOffset.value), canon(expected));
  assert.equal(atOffset.length, encoded.length);
}

const split = fc.nat();
const lead = fc.integer({ min: 0, max: 9 });

describe('decode(encode(m)) deep-equals m for arbitrary valid messages', () => {
  test('greeting', () => {
    fc.assert(fc.property(fc.array(byte, { minLength: 1, maxLength: 255, size: 'max' }), split, lead, (methods, s, l) => {
      roundTrip(codecs.greeting, { methods }, { methods }, s, l);
    }), { numRuns });
  });

  test('method selection', () => {
    fc.assert(fc.property(byte, split, lead, (method, s, l) => roundTrip(codecs.methodSelection, { method }, { method }, s, l)), { numRuns });
  });

  test('RFC 1929 request', () => {
    const field = fc.string({ unit: asciiChar, minLength: 1, maxLength: 255, size: 'max' });
    fc.assert(fc.property(field, field, split, lead, (username, password, s, l) => {
      roundTrip(codecs.userPassRequest, { username, password }, { username, password }, s, l);
    }), { numRuns });
  });

  test('RFC 1929 reply', () => {
    fc.assert(fc.property(byte, split, lead, (status, s, l) => roundTrip(codecs.userPassReply, { status }, { status }, s, l)), { numRuns });
  });

  test('SOCKS5 request', () => {
    fc.assert(fc.property(byte, addressCase, split, lead, (command, a, s, l) => {
      roundTrip(codecs.request, { command, address: a.input }, { command, address: a.expected }, s, l);
    }), { numRuns });
  });

  test('SOCKS5 reply', () => {
    fc.assert(fc.property(byte, addressCase, split, lead, (reply, a, s, l) => {
      roundTrip(codecs.reply, { reply, address: a.input }, { reply, address: a.expected }, s, l);
    }), { numRuns });
  });

  test('UDP datagram', () => {
    fc.assert(fc.property(byte, addressCase, fc.uint8Array({ maxLength: 512, size: 'max' }), split, lead, (frag, a, payload, s, l) => {
      roundTrip(codecs.udp, { frag, address: a.input, payload }, { frag, address: a.expected, payload }, s, l);
    }), { numRuns });
  });

  test('SOCKS4 / SOCKS4a request', () => {
    // 0.0.0.x with x != 0 is the SOCKS4a marker, so it cannot be sent as a plain IPv4 destination.
    const v4 = fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), port)
      .filter(([b]) => !(b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] !== 0))
      .map(([b, p]): Address => ({ type: 'ipv4', host: Array.from(b).join('.'), port: p }));
    const name = fc.tuple(fc.string({ unit: asciiNoNul, minLength: 1, maxLength: 255, size: 'max' }), port)
      .map(([host, p]): Address => ({ type: 'domain', host, port: p }));
    const request = fc.record({ command: byte, address: fc.oneof(v4, name), userId: fc.string({ unit: asciiNoNul, maxLength: 255, size: 'max' }) });
    fc.assert(fc.property(request, split, lead, (m: Socks4Request, s, l) => roundTrip(codecs.socks4Request, m, m, s, l)), { numRuns });
  });

  test('SOCKS4 reply', () => {
    const reply = fc.record({
      reply: byte,
      port,
      host: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Array.from(b).join('.')),
    });
    fc.assert(fc.property(reply, split, lead, (m, s, l) => roundTrip(codecs.socks4Reply, m, m, s, l)), { numRuns });
  });
});

// ---------------------------------------------------------------- IPv6 text

describe('IPv6 text form', () => {
  test('bytes → text → bytes is the identity, and the text is valid, canonical RFC 5952', () => {
    fc.assert(fc.property(ipv6Bytes, fc.integer({ min: 0, max: 5 }), (b, at) => {
      const buf = new Uint8Array(at + 16 + 3).fill(0xcc);
      buf.set(b, at);
      const text = bytesToIpv6(buf, at);
      assert.ok(isIPv6(text), `net.isIPv6(${text})`);
      const back = new Uint8Array(16);
      ipv6ToBytes(text, back, 0);
      assert.deepStrictEqual(back, b, text);

      const url = (t: string): string => new URL(`http://[${t}]`).hostname;
      const full = Array.from({ length: 8 }, (_, i) => (((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0)).toString(16)).join(':');
      const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
      if (mapped) {
        assert.equal(text, `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`);
      } else {
        assert.equal(`[${text}]`, url(full), `RFC 5952 form of ${full}`);
      }
      assert.equal(url(text), url(full));
    }), { numRuns });
  });

  test('any valid spelling parses to the same bytes and prints canonically', () => {
    fc.assert(fc.property(ipv6Bytes, spellingOptions, (b, o) => {
      const spelled = ipv6Spelling(b, o);
      assert.ok(isIPv6(spelled), `generator made invalid ${spelled}`);
      const out = new Uint8Array(16);
      ipv6ToBytes(spelled, out, 0);
      assert.deepStrictEqual(out, b, spelled);
      assert.equal(bytesToIpv6(out, 0), bytesToIpv6(b, 0));
    }), { numRuns });
  });
});
