/** Numeric host names: what a SOCKS DOMAIN target means to the dial. Vectors are what glibc 2.36's getaddrinfo
 * (AI_NUMERICHOST) and Node 24's dns.lookup answered for each spelling, recorded once; the property test
 * below asks getaddrinfo again (through python3, with AI_NUMERICHOST: no DNS) for random spellings. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { isHostName, nameKey, normaliseNumericHost } from '../../lib/policy/host-name.ts';
import { parseInetAton } from '../../lib/policy/ip-key.ts';

// [spelling, what the server must treat it as (undefined: a name, to be looked up)]
const vectors: ReadonlyArray<readonly [string, string | undefined]> = [
  // inet_aton's forms of 127.0.0.1
  ['127.0.0.1', '127.0.0.1'],
  ['127.1', '127.0.0.1'],
  ['127.0.1', '127.0.0.1'],
  ['2130706433', '127.0.0.1'],
  ['0x7f000001', '127.0.0.1'],
  ['0X7F000001', '127.0.0.1'],
  ['0x000000000007f000001', '127.0.0.1'],
  ['0177.0.0.1', '127.0.0.1'],
  ['0177.1', '127.0.0.1'],
  ['0x7f.1', '127.0.0.1'],
  ['0x7F.0X0.0.1', '127.0.0.1'],
  ['017700000001', '127.0.0.1'],
  // 0 is octal: leading zeros change the value
  ['00000000000000000000127.0.0.1', '87.0.0.1'],
  ['01.02.03.04', '1.2.3.4'],
  ['1.2.0x3.4', '1.2.3.4'],
  // the unspecified address
  ['0', '0.0.0.0'],
  ['00', '0.0.0.0'],
  ['0.0', '0.0.0.0'],
  ['0x0', '0.0.0.0'],
  // the last part fills the rest: 8, 16, 24 or 32 bits
  ['4294967295', '255.255.255.255'],
  ['0xffffffff', '255.255.255.255'],
  ['037777777777', '255.255.255.255'],
  ['0xff.0xff.0xff.0xff', '255.255.255.255'],
  ['127.0.65535', '127.0.255.255'],
  ['127.16777215', '127.255.255.255'],
  // not numbers: getaddrinfo looks these up as names
  ['4294967296', undefined],
  ['0x100000000', undefined],
  ['040000000000', undefined],
  ['127.0.0.256', undefined],
  ['127.0.65536', undefined],
  ['127.16777216', undefined],
  ['256.0.0.1', undefined],
  ['1.2.3.4.5', undefined],
  ['127.0.0.1.', undefined],
  ['1.2.3.', undefined],
  ['.1.2.3', undefined],
  ['1..2', undefined],
  ['127.0.0.1 ', undefined],
  [' 127.0.0.1', undefined],
  ['127.0.0.1 x', undefined],
  ['+1.2.3.4', undefined],
  ['1.2.3.-4', undefined],
  ['0x', undefined],
  ['0x.0x.0x.0x', undefined],
  ['08', undefined],
  ['09.1.1.1', undefined],
  ['1e3', undefined],
  ['127.0.0.1%lo', undefined],
  ['', undefined],
  ['example.com', undefined],
  ['localhost', undefined],
  ['0x7f000001.example', undefined],
  ['[::1]', undefined],
  // IPv6: Node dials any isIP literal as it is, zone and all
  ['::1', '::1'],
  ['0:0:0:0:0:0:0:1', '::1'],
  ['::', '::'],
  ['::FFFF:7F00:1', '127.0.0.1'],
  ['::ffff:127.0.0.1', '127.0.0.1'],
  ['::ffff:7f00:1', '127.0.0.1'],
  ['::127.0.0.1', '::7f00:1'],
  ['FE80::1', 'fe80::1'],
  ['fe80::1%lo', 'fe80::1%lo'],
  ['fe80::1%eth0', 'fe80::1%eth0'],
  ['FE80::1%ETH0', 'fe80::1%ETH0'],
  ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
  // Node maps a name to ASCII (UTS #46) before getaddrinfo: fullwidth digits, dots and colons are numeric too
  ['１２７.0.0.1', '127.0.0.1'],
  ['１２７．０．０．１', '127.0.0.1'],
  ['127。0。0。1', '127.0.0.1'],
  ['0Ｘ7f000001', '127.0.0.1'],
  ['127.0.0.1\u200b', '127.0.0.1'],
  ['：：１', '::1'],
  ['ｆｅ８０：：１', 'fe80::1'],
  ['１２７.0.0.1.', undefined],
  ['bücher.de', undefined],
];

describe('normaliseNumericHost', () => {
  for (const [spelling, expected] of vectors) {
    test(`${JSON.stringify(spelling)} → ${expected ?? 'a name'}`, () => {
      assert.equal(normaliseNumericHost(spelling), expected);
    });
  }

  test('is idempotent', () => {
    for (const [spelling] of vectors) {
      const once = normaliseNumericHost(spelling);
      if (once !== undefined) assert.equal(normaliseNumericHost(once), once, spelling);
    }
  });
});

describe('parseInetAton', () => {
  test('gives the unsigned 32-bit value, -1 when not a number', () => {
    assert.equal(parseInetAton('127.0.0.1'), 0x7f000001);
    assert.equal(parseInetAton('255.255.255.255'), 0xffffffff);
    assert.equal(parseInetAton('1.2.3'), 0x01020003);
    assert.equal(parseInetAton('1.2'), 0x01000002);
    assert.equal(parseInetAton('x'), -1);
    assert.equal(parseInetAton(''), -1);
  });
});

describe('nameKey', () => {
  test('folds case, drops the final dot, maps to ASCII as the resolver does', () => {
    assert.equal(nameKey('Example.COM'), 'example.com');
    assert.equal(nameKey('example.com.'), 'example.com');
    assert.equal(nameKey('ＥＸＡＭＰＬＥ.com'), 'example.com');
    assert.equal(nameKey('ex\u00adample.com'), 'example.com');
    assert.equal(nameKey('bücher.de'), 'xn--bcher-kva.de');
  });
});

/** A spelling of `value` in inet_aton's grammar: 1-4 parts, each decimal, octal or hex, any case, leading zeros. */
function spelling(value: number): fc.Arbitrary<string> {
  const part = (n: number) => fc.record({ base: fc.constantFrom(8, 10, 16), zeros: fc.nat(3), upper: fc.boolean() }).map(({ base, zeros, upper }) => {
    const digits = n.toString(base);
    if (base === 10) return digits;
    if (base === 8) return `0${'0'.repeat(zeros)}${digits}`;
    const text = `0x${'0'.repeat(zeros)}${digits}`;
    return upper ? text.toUpperCase() : text;
  });
  const bytes = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  return fc.integer({ min: 1, max: 4 }).chain((count) => {
    const head = bytes.slice(0, count - 1);
    const rest = bytes.slice(count - 1).reduce((acc, byte) => acc * 256 + byte, 0);
    return fc.tuple(...[...head, rest].map(part)).map((parts) => parts.join('.'));
  });
}

/** getaddrinfo(host, AI_NUMERICHOST) for each line: the address, or "-" when it is not numeric. No DNS. */
function getaddrinfoNumeric(hosts: readonly string[]): string[] {
  const script = [
    'import socket, sys',
    'for line in sys.stdin.read().split("\\n"):',
    '    try: print(socket.getaddrinfo(line, None, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)[0][4][0])',
    '    except (socket.gaierror, UnicodeError, ValueError): print("-")',
  ].join('\n');
  const out = execFileSync('python3', ['-c', script], { input: hosts.join('\n'), timeout: 60_000 }).toString();
  return out.trimEnd().split('\n');
}

describe('against getaddrinfo', () => {
  test('every inet_aton spelling of an address is that address (fast-check, checked by getaddrinfo)', () => {
    const cases = fc.sample(fc.nat({ max: 0xffffffff }).chain((value) => fc.tuple(fc.constant(value), spelling(value))), 2000);
    const oracle = getaddrinfoNumeric(cases.map(([, text]) => text));
    cases.forEach(([value, text], i) => {
      const dotted = `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
      assert.equal(normaliseNumericHost(text), dotted, text);
      assert.equal(oracle[i], dotted, `getaddrinfo on ${text}`);
    });
  });

  test('random strings of digits, dots, x and letters: numeric exactly when getaddrinfo says so', () => {
    const alphabet = fc.constantFrom(...'0123456789.xXabcdefg:'.split(''));
    const cases = fc.sample(fc.array(alphabet, { minLength: 1, maxLength: 14 }).map((chars) => chars.join('')), 4000);
    const oracle = getaddrinfoNumeric(cases);
    cases.forEach((text, i) => {
      const expected = oracle[i] === '-' ? undefined : oracle[i];
      const got = normaliseNumericHost(text);
      // Node dials an isIP literal as it is; glibc agrees on the address, and writes mapped IPv6 as such.
      assert.equal(got === undefined ? undefined : normaliseNumericHost(got), expected === undefined ? undefined : normaliseNumericHost(expected), text);
    });
  });

  test('the recorded vectors still hold on this machine (ASCII ones; python maps non-ASCII its own way)', () => {
    const ascii = vectors.filter(([text]) => /^[\x20-\x7e]*$/.test(text) && text !== '');
    const oracle = getaddrinfoNumeric(ascii.map(([text]) => text));
    ascii.forEach(([text, expected], i) => {
      const got = oracle[i] === '-' ? undefined : normaliseNumericHost(oracle[i] ?? '');
      // Zones: getaddrinfo only takes one for link-local and an existing interface; Node's isIP takes any.
      if (!text.includes('%')) assert.equal(got, expected, text);
    });
  });
});

describe('isHostName: the names the server looks up, read the same by its rules and its resolver', () => {
  for (const name of ['example.com', 'Example.COM.', '_dmarc.example.test', 'a-b.c', 'münchen.de', 'xn--mnchen-3ya.de', 'ＥＸＡＭＰＬＥ.test', `${'a'.repeat(63)}.test`]) {
    test(`${JSON.stringify(name)} is one`, () => assert.equal(isHostName(name), true));
  }
  const tooLong = Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.');
  for (const name of ['', '.', 'a..b', '.a', 'evil.example\0.good.test', '\\101vil.test', 'e\\vil.test', 'a b.test', 'a\tb.test', 'a\nb', 'é\0.test', `${'a'.repeat(64)}.test`, tooLong, 'a/b.test', 'a:b']) {
    test(`${JSON.stringify(name)} is not`, () => assert.equal(isHostName(name), false));
  }
});
