/** Malformed peer input throws a CodecError with the right code, and only that; values the RFCs leave open
 * (unknown CMD, REP, FRAG, method) are data. Encoders reject values they cannot encode with TypeError. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readAddress } from '../../lib/codec/address.ts';
import { CodecError, replyTo, type CodecErrorCode, type Decoded } from '../../lib/codec/decoded.ts';
import {
  decodeGreeting, decodeMethodSelection, decodeReply, decodeRequest, decodeUdpDatagram, decodeUserPassReply,
  decodeUserPassRequest, encodeGreeting, encodeRequest, encodeUdpDatagram, encodeUserPassRequest,
} from '../../lib/codec/socks5.ts';
import {
  decodeSocks4Reply, decodeSocks4Request, encodeSocks4Reply, encodeSocks4Request, MAX_SOCKS4_FIELD,
} from '../../lib/codec/socks4.ts';
import { ascii, bytes } from './vectors.ts';

type AnyDecoder = (buf: Uint8Array, offset?: number) => Decoded<unknown>;

function isCodecError(code: CodecErrorCode): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof CodecError, `expected a CodecError, got ${String(e)}`);
    assert.equal(e.name, 'CodecError');
    assert.equal(e.code, code);
    assert.ok(e.message.length > 0);
    return true;
  };
}

/** The malformed message throws `code` whole, with trailing bytes, and at an offset; no prefix of it ever
 * decodes to a message, and each prefix either asks for more or throws the same code. */
function assertMalformed(decode: AnyDecoder, hex: string, code: CodecErrorCode): void {
  const buf = bytes(hex);
  assert.throws(() => decode(buf), isCodecError(code), hex);
  assert.throws(() => decode(Buffer.concat([buf, bytes('00'.repeat(300))])), isCodecError(code), `${hex} + trailer`);
  const shifted = new Uint8Array(buf.length + 4).fill(0x05);
  shifted.set(buf, 4);
  assert.throws(() => decode(shifted, 4), isCodecError(code), `${hex} at offset 4`);
  for (let k = 0; k < buf.length; k++) {
    let r: Decoded<unknown> | undefined;
    try {
      r = decode(buf.subarray(0, k));
    } catch (e) {
      isCodecError(code)(e);
      continue;
    }
    assert.equal(r.done, false, `prefix ${k} of malformed ${hex} decoded`);
  }
}

const socks5Shaped: ReadonlyArray<readonly [string, AnyDecoder, string]> = [
  ['request', decodeRequest, '05 01 00'],
  ['reply', decodeReply, '05 00 00'],
  ['UDP header', decodeUdpDatagram, '00 00 00'],
];

describe('unknown ATYP → bad-address-type', () => {
  for (const [what, decode, head] of socks5Shaped) {
    for (const atyp of ['00', '02', '05', 'ff']) {
      test(`${what} with ATYP 0x${atyp}`, () => {
        assertMalformed(decode, `${head} ${atyp} 7f000001 0050`, 'bad-address-type');
        // The type byte alone is enough to know.
        assert.throws(() => decode(bytes(`${head} ${atyp}`)), isCodecError('bad-address-type'));
      });
    }
  }

  test('readAddress directly, at an offset', () => {
    assert.throws(() => readAddress(bytes('ffff 02 00000000 0000'), 2), isCodecError('bad-address-type'));
    assert.deepStrictEqual(readAddress(bytes('ffff'), 2), { done: false, need: 1 });
  });
});

describe('zero-length domain → bad-length (a reply may carry one: empty-bnd-name.test.ts)', () => {
  for (const [what, decode, head] of socks5Shaped.filter(([, decode]) => decode !== decodeReply)) {
    test(what, () => {
      assertMalformed(decode, `${head} 03 00 0050`, 'bad-length');
      assert.throws(() => decode(bytes(`${head} 03 00`)), isCodecError('bad-length'));
    });
  }

  test('greeting with 0 methods', () => {
    assertMalformed(decodeGreeting, '05 00', 'bad-length');
    assertMalformed(decodeGreeting, '05 00 00 02', 'bad-length');
  });

  test('SOCKS4a with an empty host name', () => {
    assertMalformed(decodeSocks4Request, '04 01 0050 00000001 00 00', 'bad-length');
    assertMalformed(decodeSocks4Request, `04 01 0050 00000001 ${ascii('fred')} 00 00`, 'bad-length');
  });
});

describe('wrong version → bad-version', () => {
  const cases: ReadonlyArray<readonly [string, AnyDecoder, readonly string[]]> = [
    ['greeting', decodeGreeting, ['04 01 00', '00 01 00', '01 01 00', 'ff 01 00']],
    ['method selection', decodeMethodSelection, ['04 00', '00 00', '01 02']],
    ['RFC 1929 request', decodeUserPassRequest, ['05 01 75 01 70', '00 01 75 01 70', '02 01 75 01 70']],
    ['RFC 1929 reply', decodeUserPassReply, ['05 00', '00 00', '02 01']],
    ['SOCKS5 request', decodeRequest, ['04 01 00 01 7f000001 0050', '00 01 00 01 7f000001 0050']],
    ['SOCKS5 reply', decodeReply, ['04 00 00 01 7f000001 0050', '00 00 00 01 7f000001 0050']],
    ['SOCKS4 request', decodeSocks4Request, ['05 01 0050 01020304 00', '00 01 0050 01020304 00']],
    ['SOCKS4 reply', decodeSocks4Reply, ['05 5a 0050 01020304', '01 5a 0050 01020304', '5a 5a 0050 01020304']],
  ];
  for (const [what, decode, hexes] of cases) {
    test(what, () => {
      for (const hex of hexes) assertMalformed(decode, hex, 'bad-version');
    });
  }

  test('a SOCKS4 reply with VN 4 (sent by some servers) is accepted', () => {
    const r = decodeSocks4Reply(bytes('04 5a 0050 01020304'));
    assert.deepStrictEqual(r, { done: true, value: { reply: 0x5a, port: 80, host: '1.2.3.4' }, length: 8 });
  });
});

describe('our own first message coming back → echo', () => {
  const greeting = bytes('05 01 01');
  const socks4 = bytes('04 01 0050 7f000001 00');
  const toGreeting = replyTo(greeting, 'SOCKS5 greeting', decodeMethodSelection, ({ method }) => method === 1 || method === 0xff);
  const toSocks4 = replyTo(socks4, 'SOCKS4 request', decodeSocks4Reply, ({ reply }) => reply >= 0x5a && reply <= 0x5d);
  // Offers no-auth only: its first two bytes, `05 01`, are not an answer it may get.
  const noAuth = bytes('05 01 00');
  const toNoAuth = replyTo(noAuth, 'SOCKS5 greeting', decodeMethodSelection, ({ method }) => method === 0 || method === 0xff);

  test('the greeting or the SOCKS4 request echoed whole, alone or with more behind it, at an offset', () => {
    for (const [decode, sent] of [[toGreeting, greeting], [toSocks4, socks4]] as const) {
      assert.throws(() => decode(Buffer.concat([sent, bytes('00 01 02')])), isCodecError('echo'));
      assert.throws(() => decode(Buffer.concat([bytes('ff ff'), sent]), 2), isCodecError('echo'));
    }
    assert.throws(() => toGreeting(greeting), { name: 'CodecError', code: 'echo', message: 'the SOCKS5 greeting came back unchanged, as from an echo service' });
    assert.throws(() => toSocks4(socks4), { name: 'CodecError', code: 'echo', message: 'the SOCKS4 request came back unchanged, as from an echo service' });
  });

  test('real answers still decode: a VN 4 grant with data behind it, a refusal', () => {
    assert.deepStrictEqual(toSocks4(bytes('04 5a 0050 7f000001 00')), { done: true, value: { reply: 0x5a, port: 80, host: '127.0.0.1' }, length: 8 });
    assert.deepStrictEqual(toSocks4(bytes('00 5b 0000 00000000')), { done: true, value: { reply: 0x5b, port: 0, host: '0.0.0.0' }, length: 8 });
    assert.deepStrictEqual(toNoAuth(bytes('05 00')), { done: true, value: { method: 0 }, length: 2 });
  });

  test('an echo split across segments: its start waits for the rest, which is then the echo', () => {
    assert.deepStrictEqual(toNoAuth(bytes('05 01')), { done: false, need: 1 });
    assert.throws(() => toNoAuth(noAuth), isCodecError('echo'));
    for (let cut = 8; cut < socks4.length; cut++) assert.deepStrictEqual(toSocks4(socks4.subarray(0, cut)), { done: false, need: socks4.length - cut });
    // `05 01` is a grant of the GSSAPI this greeting offers: nothing tells its echo's start apart.
    assert.deepStrictEqual(toGreeting(bytes('05 01')), { done: true, value: { method: 1 }, length: 2 });
  });
});

describe('non-zero RSV → bad-reserved', () => {
  for (const rsv of ['01', '80', 'ff']) {
    test(`request/reply RSV 0x${rsv}`, () => {
      assertMalformed(decodeRequest, `05 01 ${rsv} 01 7f000001 0050`, 'bad-reserved');
      assertMalformed(decodeReply, `05 00 ${rsv} 01 7f000001 0050`, 'bad-reserved');
    });
  }

  test('UDP header RSV', () => {
    for (const rsv of ['0001', '0100', 'ffff']) {
      assertMalformed(decodeUdpDatagram, `${rsv} 00 01 7f000001 0035 68656c6c6f`, 'bad-reserved');
    }
  });
});

describe('SOCKS4 fields without NUL → too-long', () => {
  const max = MAX_SOCKS4_FIELD;

  test(`USERID with no NUL within ${max + 1} bytes`, () => {
    assert.equal(max, 255);
    assertMalformed(decodeSocks4Request, `04 01 0050 01020304 ${'41'.repeat(max + 1)}`, 'too-long');
    assertMalformed(decodeSocks4Request, `04 01 0050 01020304 ${'41'.repeat(1000)} 00`, 'too-long');
  });

  test(`USERID of ${max} bytes without NUL yet asks for more`, () => {
    const r = decodeSocks4Request(bytes(`04 01 0050 01020304 ${'41'.repeat(max)}`));
    assert.equal(r.done, false);
  });

  test(`SOCKS4a host name with no NUL within ${max + 1} bytes`, () => {
    assertMalformed(decodeSocks4Request, `04 01 0050 00000001 00 ${'61'.repeat(max + 1)}`, 'too-long');
    const r = decodeSocks4Request(bytes(`04 01 0050 00000001 00 ${'61'.repeat(max)}`));
    assert.equal(r.done, false);
  });
});

describe('values the RFCs leave open decode as data', () => {
  test('unknown SOCKS5 CMD 0x04, 0xFF', () => {
    for (const cmd of [0x04, 0xff]) {
      const r = decodeRequest(bytes(`05 ${cmd.toString(16).padStart(2, '0')} 00 01 7f000001 0050`));
      assert.deepStrictEqual(r, { done: true, value: { command: cmd, address: { type: 'ipv4', host: '127.0.0.1', port: 80 } }, length: 10 });
    }
  });

  test('unknown SOCKS4 CD 0xFF', () => {
    const r = decodeSocks4Request(bytes('04 ff 0050 01020304 00'));
    assert.deepStrictEqual(r, { done: true, value: { command: 0xff, address: { type: 'ipv4', host: '1.2.3.4', port: 80 }, userId: '' }, length: 9 });
  });

  test('unknown SOCKS4 reply code', () => {
    const r = decodeSocks4Reply(bytes('00 00 0050 01020304'));
    assert.deepStrictEqual(r, { done: true, value: { reply: 0, port: 80, host: '1.2.3.4' }, length: 8 });
  });

  test('unknown methods in a greeting', () => {
    assert.deepStrictEqual(decodeGreeting(bytes('05 03 03 80 fe')), { done: true, value: { methods: [3, 0x80, 0xfe] }, length: 5 });
  });
});

describe('encoders reject values they cannot encode with TypeError', () => {
  const addr = { type: 'ipv4', host: '1.2.3.4', port: 80 } as const;
  test('greeting with 0 or 256 methods', () => {
    assert.throws(() => encodeGreeting({ methods: [] }), TypeError);
    assert.throws(() => encodeGreeting({ methods: new Array<number>(256).fill(0) }), TypeError);
  });
  test('RFC 1929 fields over 255 bytes', () => {
    assert.throws(() => encodeUserPassRequest({ username: 'u'.repeat(256), password: 'p' }), TypeError);
    assert.throws(() => encodeUserPassRequest({ username: 'u', password: 'p'.repeat(256) }), TypeError);
    // 255 bytes counted in UTF-8, not in UTF-16 code units.
    assert.throws(() => encodeUserPassRequest({ username: 'é'.repeat(128), password: 'p' }), TypeError);
  });
  test('bad addresses and ports', () => {
    assert.throws(() => encodeRequest({ command: 1, address: { type: 'ipv4', host: '1.2.3', port: 80 } }), TypeError);
    assert.throws(() => encodeRequest({ command: 1, address: { type: 'ipv4', host: '::1', port: 80 } }), TypeError);
    assert.throws(() => encodeRequest({ command: 1, address: { type: 'ipv6', host: '1.2.3.4', port: 80 } }), TypeError);
    assert.throws(() => encodeRequest({ command: 1, address: { type: 'ipv6', host: 'fe80::1%eth0', port: 80 } }), TypeError);
    assert.throws(() => encodeRequest({ command: 1, address: { type: 'domain', host: '', port: 80 } }), TypeError);
    assert.throws(() => encodeRequest({ command: 1, address: { type: 'domain', host: 'a'.repeat(256), port: 80 } }), TypeError);
    assert.throws(() => encodeRequest({ command: 1, address: { type: 'domain', host: 'é'.repeat(128), port: 80 } }), TypeError);
    for (const port of [-1, 65536, 1.5, Number.NaN]) {
      assert.throws(() => encodeRequest({ command: 1, address: { ...addr, port } }), TypeError, String(port));
      assert.throws(() => encodeUdpDatagram({ frag: 0, address: { ...addr, port }, payload: new Uint8Array(0) }), TypeError, String(port));
    }
  });
  test('SOCKS4 cannot carry IPv6, NUL or over-long fields', () => {
    assert.throws(() => encodeSocks4Request({ command: 1, address: { type: 'ipv6', host: '::1', port: 80 }, userId: '' }), TypeError);
    assert.throws(() => encodeSocks4Request({ command: 1, address: addr, userId: 'a\0b' }), TypeError);
    assert.throws(() => encodeSocks4Request({ command: 1, address: addr, userId: 'a'.repeat(256) }), TypeError);
    assert.throws(() => encodeSocks4Request({ command: 1, address: { type: 'domain', host: '', port: 80 }, userId: '' }), TypeError);
    assert.throws(() => encodeSocks4Request({ command: 1, address: { type: 'domain', host: 'a\0b', port: 80 }, userId: '' }), TypeError);
    assert.throws(() => encodeSocks4Request({ command: 1, address: { type: 'domain', host: 'a'.repeat(256), port: 80 }, userId: '' }), TypeError);
    assert.throws(() => encodeSocks4Reply({ reply: 0x5a, port: 80, host: 'example.com' }), TypeError);
  });

  // SOCKS4a reserves DSTIP 0.0.0.x (x != 0) to mean "host name follows"; a plain SOCKS4 request for such an
  // IPv4 address is read back as SOCKS4a. The encoder should refuse it rather than emit an ambiguous request.
  test('SOCKS4 request for IPv4 0.0.0.1 (the SOCKS4a marker) is refused', () => {
    assert.throws(() => encodeSocks4Request({ command: 1, address: { type: 'ipv4', host: '0.0.0.1', port: 80 }, userId: '' }), TypeError);
  });
});
