/** The HTTP proxy's pure pieces: request target forms (RFC 9112 §3.2), body framing and the request
 * smuggling cases (§6.3), the chunked scanner (§7.1) whole and split anywhere, hop-by-hop fields (RFC 9110
 * §7.6.1) and Basic credentials decoded (RFC 7617). */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from '../../lib/codec/decoded.ts';
import { ChunkedScanner, requestFraming, responseFraming } from '../../lib/codec/http-framing.ts';
import type { HttpHeader } from '../../lib/codec/http-head.ts';
import { decodeBasicCredentials } from '../../lib/codec/http-basic.ts';
import { forwardHeaders, persists } from '../../lib/codec/http-hop.ts';
import { parseProxyTarget } from '../../lib/codec/http-target.ts';

const h = (...pairs: Array<[string, string]>): HttpHeader[] => pairs.map(([name, value]) => ({ name, value }));
const V11 = { major: 1, minor: 1 } as const;
const V10 = { major: 1, minor: 0 } as const;
const codecError = (code: string) => (error: unknown): boolean => error instanceof CodecError && error.code === code;

describe('request targets', () => {
  const good: Array<[string, string, unknown]> = [
    ['CONNECT', 'example.com:443', { form: 'authority', address: { type: 'domain', host: 'example.com', port: 443 } }],
    ['CONNECT', '[::1]:8443', { form: 'authority', address: { type: 'ipv6', host: '::1', port: 8443 } }],
    ['CONNECT', '10.0.0.1:22', { form: 'authority', address: { type: 'ipv4', host: '10.0.0.1', port: 22 } }],
    ['GET', 'http://a.test/x?y=1#frag', { form: 'absolute', address: { type: 'domain', host: 'a.test', port: 80 }, host: 'a.test', path: '/x?y=1' }],
    ['GET', 'HTTP://a.test:8080', { form: 'absolute', address: { type: 'domain', host: 'a.test', port: 8080 }, host: 'a.test:8080', path: '/' }],
    ['POST', 'http://[::1]:81?q', { form: 'absolute', address: { type: 'ipv6', host: '::1', port: 81 }, host: '[::1]:81', path: '/?q' }],
    ['GET', 'http://127.0.0.1/', { form: 'absolute', address: { type: 'ipv4', host: '127.0.0.1', port: 80 }, host: '127.0.0.1', path: '/' }],
  ];
  for (const [method, target, expected] of good) {
    test(`${method} ${target}`, () => assert.deepEqual(parseProxyTarget(method, target), expected));
  }
  const bad: Array<[string, string, string]> = [
    ['CONNECT', 'example.com', 'bad-syntax'],
    ['CONNECT', 'example.com:0', 'bad-syntax'],
    ['CONNECT', 'example.com:65536', 'bad-syntax'],
    ['CONNECT', '[::1', 'bad-syntax'],
    ['CONNECT', '[nothex]:1', 'bad-syntax'],
    ['CONNECT', 'a/b:443', 'bad-syntax'],
    ['GET', '/index.html', 'bad-syntax'],
    ['OPTIONS', '*', 'bad-syntax'],
    ['GET', 'http://user:pw@a.test/', 'bad-syntax'],
    ['GET', 'http:///x', 'bad-syntax'],
    ['GET', 'https://a.test/', 'bad-version'],
    ['GET', 'ftp://a.test/', 'bad-version'],
  ];
  for (const [method, target, code] of bad) {
    test(`${method} ${target} → ${code}`, () => assert.throws(() => parseProxyTarget(method, target), codecError(code)));
  }
});

describe('body framing', () => {
  test('requests: none, a length, chunked', () => {
    assert.deepEqual(requestFraming(V11, []), { kind: 'none' });
    assert.deepEqual(requestFraming(V11, h(['Content-Length', '0'])), { kind: 'none' });
    assert.deepEqual(requestFraming(V11, h(['content-length', '12'])), { kind: 'length', length: 12 });
    assert.deepEqual(requestFraming(V11, h(['Transfer-Encoding', 'chunked'])), { kind: 'chunked' });
    assert.deepEqual(requestFraming(V11, h(['Transfer-Encoding', 'gzip, Chunked'])), { kind: 'chunked' });
  });
  const smuggling: Array<[string, HttpHeader[], typeof V11 | typeof V10]> = [
    ['Content-Length and Transfer-Encoding', h(['Content-Length', '5'], ['Transfer-Encoding', 'chunked']), V11],
    ['two Content-Length fields', h(['Content-Length', '5'], ['Content-Length', '5']), V11],
    ['a Content-Length list', h(['Content-Length', '5, 5']), V11],
    ['a signed Content-Length', h(['Content-Length', '+5']), V11],
    ['a hex Content-Length', h(['Content-Length', '0x5']), V11],
    ['an empty Content-Length', h(['Content-Length', '']), V11],
    ['a Content-Length of 16 digits', h(['Content-Length', '1234567890123456']), V11],
    ['Transfer-Encoding not ending in chunked', h(['Transfer-Encoding', 'chunked, gzip']), V11],
    ['Transfer-Encoding in HTTP/1.0', h(['Transfer-Encoding', 'chunked']), V10],
  ];
  for (const [name, headers, version] of smuggling) {
    test(`request with ${name} → bad-length`, () => assert.throws(() => requestFraming(version, headers), codecError('bad-length')));
  }
  test('responses: none after HEAD and for 1xx, 204, 304; chunked; a length; else until the close', () => {
    const cl = h(['Content-Length', '9']);
    assert.deepEqual(responseFraming('HEAD', 200, cl), { kind: 'none' });
    for (const status of [100, 103, 204, 304]) assert.deepEqual(responseFraming('GET', status, cl), { kind: 'none' }, String(status));
    assert.deepEqual(responseFraming('GET', 200, cl), { kind: 'length', length: 9 });
    assert.deepEqual(responseFraming('GET', 200, h(['Content-Length', '0'])), { kind: 'none' });
    assert.deepEqual(responseFraming('GET', 200, h(['Transfer-Encoding', 'chunked'])), { kind: 'chunked' });
    assert.deepEqual(responseFraming('GET', 200, h(['Transfer-Encoding', 'gzip'])), { kind: 'close' });
    assert.deepEqual(responseFraming('GET', 200, []), { kind: 'close' });
    assert.throws(() => responseFraming('GET', 200, h(['Content-Length', '1'], ['Transfer-Encoding', 'chunked'])), codecError('bad-length'));
  });
});

describe('the chunked scanner', () => {
  const body = '4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n';
  const payload = 'Wikipedia in\r\n\r\nchunks.';

  function scan(bytes: Buffer, cuts: number[]): { used: number; data: string; done: boolean } {
    const scanner = new ChunkedScanner();
    let used = 0;
    let data = '';
    let from = 0;
    for (const to of [...cuts, bytes.length]) {
      const piece = bytes.subarray(from, to);
      used += scanner.scan(piece, 0, piece.length, (a, b) => { data += piece.toString('latin1', a, b); });
      from = to;
    }
    return { used, data, done: scanner.done };
  }

  test('RFC 9112 §7.1 body with an extension and a trailer: its end and its data, the bytes after it left', () => {
    const bytes = Buffer.from(`${body}NEXT`, 'latin1');
    assert.deepEqual(scan(bytes, []), { used: body.length, data: payload, done: true });
  });

  test('split at every point, and byte by byte: the same end and data', () => {
    const bytes = Buffer.from(body, 'latin1');
    for (let k = 0; k <= bytes.length; k++) assert.deepEqual(scan(bytes, [k]), { used: body.length, data: payload, done: true }, `split at ${k}`);
    assert.deepEqual(scan(bytes, [...bytes.keys()].slice(1)), { used: body.length, data: payload, done: true });
  });

  test('an unfinished body is not done', () => {
    assert.equal(scan(Buffer.from('3\r\nabc\r\n0\r\n'), []).done, false);
  });

  const malformed: Array<[string, string]> = [
    ['no size', '\r\n'],
    ['a size that is not hex', 'g\r\n'],
    ['a size of 16 digits', '1000000000000000\r\n'],
    ['data longer than its size', '2\r\nabc\r\n'],
    ['a bare CR after the size', '2\rab'],
    // Passed on as they came, these would be framed differently by other parsers (RFC 9112 §11.2).
    ['a bare LF after the size', '3\nabc\r\n0\r\n\r\n'],
    ['a bare LF after an extension', '3;x\nabc\r\n0\r\n\r\n'],
    ['a bare LF after the data', '3\r\nabc\n0\r\n\r\n'],
    ['a bare CR after the data', '3\r\nabc\r0\r\n\r\n'],
    ['a bare LF ending the trailers', '0\r\n\n'],
    ['a bare CR in the trailers', '0\r\n\rGET / HTTP/1.1\r\n\r\n'],
    ['a control character in an extension', '3;a=\x00\r\nabc\r\n0\r\n\r\n'],
    ['a control character in a trailer', '0\r\nX: a\x01b\r\n\r\n'],
  ];
  for (const [name, text] of malformed) {
    test(`${name} → bad-length`, () => assert.throws(() => new ChunkedScanner().scan(Buffer.from(text)), codecError('bad-length')));
  }

  test('random bytes only ever end, need more, or throw bad-length', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        const used = new ChunkedScanner().scan(bytes);
        return used <= bytes.length;
      } catch (error) {
        return codecError('bad-length')(error);
      }
    }));
  });
});

describe('hop-by-hop fields', () => {
  test('Connection and what it names, Proxy-*, Keep-Alive, TE, Upgrade removed; Via added; Transfer-Encoding only when kept', () => {
    const headers = h(
      ['Host', 'a.test'], ['Connection', 'keep-alive, X-Secret'], ['X-Secret', '1'], ['Keep-Alive', 'timeout=5'],
      ['Proxy-Connection', 'keep-alive'], ['TE', 'trailers'], ['Upgrade', 'h2c'], ['Proxy-Authorization', 'Basic YTpi'],
      ['Transfer-Encoding', 'chunked'], ['Accept', '*/*'], ['Via', '1.0 other'],
    );
    assert.deepEqual(forwardHeaders(headers, V11, false), h(['Host', 'a.test'], ['Accept', '*/*'], ['Via', '1.0 other'], ['Via', '1.1 socx']));
    assert.deepEqual(forwardHeaders(headers, V10, true), h(['Host', 'a.test'], ['Transfer-Encoding', 'chunked'], ['Accept', '*/*'], ['Via', '1.0 other'], ['Via', '1.0 socx']));
  });

  test('persistence: HTTP/1.1 unless "close" (Connection or Proxy-Connection), HTTP/1.0 never', () => {
    assert.equal(persists(V11, []), true);
    assert.equal(persists(V11, h(['Connection', 'Keep-Alive, Close'])), false);
    assert.equal(persists(V11, h(['Proxy-Connection', 'close'])), false);
    assert.equal(persists(V10, h(['Connection', 'keep-alive'])), false);
  });

  test('Basic credentials decoded (RFC 7617): the password after the first colon; anything else undefined', () => {
    const b64 = (text: string): string => Buffer.from(text).toString('base64');
    assert.deepEqual(decodeBasicCredentials('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='), { username: 'Aladdin', password: 'open sesame' });
    assert.deepEqual(decodeBasicCredentials(`Basic ${b64('alice:pa:ss')}`), { username: 'alice', password: 'pa:ss' });
    assert.deepEqual(decodeBasicCredentials(`basic  ${b64('bob:')}`), { username: 'bob', password: '' });
    for (const value of [`Bearer ${b64('a:b')}`, `Basic ${b64('nocolon')}`, `Basic ${b64(':nouser')}`, 'Basic !!!', 'Basic']) {
      assert.equal(decodeBasicCredentials(value), undefined, value);
    }
  });
});
