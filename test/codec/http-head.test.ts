/** The HTTP/1.x message-head codec: canonical heads decode and encode to the same bytes, split anywhere they
 * ask for more, the lenient forms RFC 9112 allows decode, the smuggling-prone ones throw CodecError. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError, type CodecErrorCode } from '../../lib/codec/decoded.ts';
import {
  decodeHttpHead, decodeHttpRequestHead, decodeHttpResponseHead, encodeHttpHead, encodeHttpRequestHead,
  encodeHttpResponseHead, headerValues, MAX_HTTP_HEAD, type HttpHead,
} from '../../lib/codec/http-head.ts';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

const canonical: ReadonlyArray<readonly [string, string, HttpHead]> = [
  ['CONNECT with a Host', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    { start: ['CONNECT', 'example.com:443', 'HTTP/1.1'], headers: [{ name: 'Host', value: 'example.com:443' }] }],
  ['absolute-form GET, two fields', 'GET http://a.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\nProxy-Authorization: Basic YTpi\r\n\r\n',
    { start: ['GET', 'http://a.test/x?y=1', 'HTTP/1.1'], headers: [{ name: 'Host', value: 'a.test' }, { name: 'Proxy-Authorization', value: 'Basic YTpi' }] }],
  ['a response whose reason has spaces', 'HTTP/1.1 200 Connection established\r\n\r\n',
    { start: ['HTTP/1.1', '200', 'Connection established'], headers: [] }],
  ['a response with an empty reason and obs-text', 'HTTP/1.0 407 \r\nProxy-Authenticate: Basic realm="\xe9"\r\n\r\n',
    { start: ['HTTP/1.0', '407', ''], headers: [{ name: 'Proxy-Authenticate', value: 'Basic realm="\xe9"' }] }],
];

function isCodecError(code: CodecErrorCode): (error: unknown) => boolean {
  return (error) => error instanceof CodecError && error.code === code;
}

describe('canonical heads', () => {
  for (const [name, text, head] of canonical) {
    const bytes = latin1(text);
    test(`${name}: decodes whole, leaves the body, encodes back`, () => {
      const body = latin1('BODY\r\n\r\n');
      const decoded = decodeHttpHead(Buffer.concat([bytes, body]));
      assert.deepEqual(decoded, { done: true, value: head, length: bytes.length });
      assert.deepEqual(encodeHttpHead(head), bytes);
    });
    test(`${name}: every strict prefix asks for more, and an offset works`, () => {
      for (let k = 0; k < bytes.length; k++) assert.equal(decodeHttpHead(bytes.subarray(0, k)).done, false, `prefix ${k}`);
      const shifted = Buffer.concat([latin1('xyz'), bytes]);
      assert.deepEqual(decodeHttpHead(shifted, 3), { done: true, value: head, length: bytes.length });
      // A view that starts inside its ArrayBuffer.
      assert.deepEqual(decodeHttpHead(new Uint8Array(shifted.buffer, shifted.byteOffset + 3, bytes.length)), { done: true, value: head, length: bytes.length });
    });
  }
});

describe('lenient forms RFC 9112 allows', () => {
  const cases: ReadonlyArray<readonly [string, string, HttpHead]> = [
    ['bare LF line ends', 'GET http://a/ HTTP/1.1\nHost: a\n\n', { start: ['GET', 'http://a/', 'HTTP/1.1'], headers: [{ name: 'Host', value: 'a' }] }],
    ['empty lines before the request line', '\r\n\r\nGET / HTTP/1.0\r\n\r\n', { start: ['GET', '/', 'HTTP/1.0'], headers: [] }],
    ['whitespace around a value, an empty value', 'GET / HTTP/1.1\r\nA: \t v w \t\r\nB:\r\n\r\n', { start: ['GET', '/', 'HTTP/1.1'], headers: [{ name: 'A', value: 'v w' }, { name: 'B', value: '' }] }],
  ];
  for (const [name, text, head] of cases) {
    test(name, () => assert.deepEqual(decodeHttpHead(latin1(text)), { done: true, value: head, length: latin1(text).length }));
  }
});

describe('malformed heads throw bad-syntax', () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['a bare CR in a field', 'GET / HTTP/1.1\r\nA: x\ry\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nA: x\r\n y\r\n\r\n'],
    ['whitespace before the colon', 'GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n'],
    ['a field without a colon', 'GET / HTTP/1.1\r\nnonsense\r\n\r\n'],
    ['a NUL in a value', 'GET / HTTP/1.1\r\nA: x\0y\r\n\r\n'],
    ['a start line of one part', 'GET\r\n\r\n'],
    ['two spaces in a row', 'GET  / HTTP/1.1\r\n\r\n'],
  ];
  for (const [name, text] of cases) test(name, () => assert.throws(() => decodeHttpHead(latin1(text)), isCodecError('bad-syntax')));
  test('bare CR before the start line', () => assert.throws(() => decodeHttpHead(latin1('\rGET / HTTP/1.1\r\n\r\n')), isCodecError('bad-syntax')));
});

describe('requests and responses', () => {
  test('a request head: method, target, version', () => {
    const decoded = decodeHttpRequestHead(latin1('CONNECT [::1]:22 HTTP/1.0\r\n\r\n'));
    assert.deepEqual(decoded, { done: true, value: { method: 'CONNECT', target: '[::1]:22', version: { major: 1, minor: 0 }, headers: [] }, length: 29 });
  });
  for (const [name, text] of [['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n'], ['a lower-case version', 'GET / http/1.1\r\n\r\n'], ['a method with a slash', 'GE/T / HTTP/1.1\r\n\r\n'], ['SOCKS-looking bytes', '\x05\x01 / HTTP/1.1\r\n\r\n']] as const) {
    test(`request: ${name} is refused`, () => assert.throws(() => decodeHttpRequestHead(latin1(text)), isCodecError('bad-syntax')));
  }
  test('a response head: status and reason', () => {
    const decoded = decodeHttpResponseHead(latin1('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n'));
    assert.ok(decoded.done);
    assert.equal(decoded.value.status, 407);
    assert.equal(decoded.value.reason, 'Proxy Authentication Required');
    assert.deepEqual(headerValues(decoded.value.headers, 'proxy-authenticate'), ['Basic realm="x"']);
  });
  test('a response without a reason phrase or its space (sent in the wild) has an empty reason', () => {
    const decoded = decodeHttpResponseHead(latin1('HTTP/1.1 200\r\n\r\n'));
    assert.deepEqual(decoded, { done: true, value: { version: { major: 1, minor: 1 }, status: 200, reason: '', headers: [] }, length: 16 });
  });
  test('a response that cannot begin with "HTTP/" fails at once, before any line end; its start needs more', () => {
    for (const text of ['g', 'garbage!!\r\n', 'HTTQ', '\r\nX', '\x05\x00']) {
      assert.throws(() => decodeHttpResponseHead(latin1(text)), { name: 'CodecError', code: 'bad-syntax', message: 'the answer is not an HTTP response: it does not begin with "HTTP/"' }, JSON.stringify(text));
    }
    for (const text of ['H', 'HTTP', 'HTTP/1.1 200', '\r\nHT']) assert.equal(decodeHttpResponseHead(latin1(text)).done, false, JSON.stringify(text));
  });
  test('request: bytes that cannot begin a method fail as they arrive, not when a head would end', () => {
    for (const text of ['\x05\x01\x00', '\x04\x01', 'GE(', '\r\nG\x00', 'G\u00e9T']) {
      assert.throws(() => decodeHttpRequestHead(latin1(text)), { name: 'CodecError', code: 'bad-syntax', message: 'the request does not begin with an HTTP method' }, JSON.stringify(text));
    }
    for (const text of ['G', 'GET', 'GET /', '\r\nGE', 'M-SEARCH * HTTP/1.1\r\n']) assert.equal(decodeHttpRequestHead(latin1(text)).done, false, JSON.stringify(text));
  });
  test('a request without a version (HTTP/0.9) is refused', () => {
    assert.throws(() => decodeHttpRequestHead(latin1('GET /\r\n\r\n')), isCodecError('bad-syntax'));
  });
  test('response: a status that is not three digits is refused', () => {
    assert.throws(() => decodeHttpResponseHead(latin1('HTTP/1.1 20 OK\r\n\r\n')), isCodecError('bad-syntax'));
  });
  test('encoders write the start line the decoders read', () => {
    assert.equal(encodeHttpRequestHead({ method: 'CONNECT', target: 'a:1', headers: [{ name: 'Host', value: 'a:1' }] }).toString('latin1'), 'CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n');
    assert.equal(encodeHttpResponseHead({ status: 403, reason: 'Forbidden', headers: [] }).toString('latin1'), 'HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  test('encoders refuse what would change the message', () => {
    assert.throws(() => encodeHttpHead({ start: ['GET', '/', 'HTTP/1.1'], headers: [{ name: 'A', value: 'x\r\nInjected: 1' }] }), TypeError);
    assert.throws(() => encodeHttpHead({ start: ['GET', '/ x', 'HTTP/1.1'], headers: [] }), TypeError);
    assert.throws(() => encodeHttpHead({ start: ['GET', '/', 'HTTP/1.1'], headers: [{ name: 'Bad Name', value: 'x' }] }), TypeError);
  });
});

describe('bounds', () => {
  test('a head with no end beyond the limit is too-long; at the limit it still waits', () => {
    const filler = `GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HTTP_HEAD)}`;
    assert.throws(() => decodeHttpHead(latin1(filler)), isCodecError('too-long'));
    assert.equal(decodeHttpHead(latin1(filler.slice(0, MAX_HTTP_HEAD))).done, false);
    assert.throws(() => decodeHttpHead(latin1('GET / HTTP/1.1\r\nX: aaaaaaaa'), 0, 16), isCodecError('too-long'));
  });
  test('endless empty lines are too-long, not a loop', () => {
    assert.throws(() => decodeHttpHead(latin1('\r\n'.repeat(MAX_HTTP_HEAD))), isCodecError('too-long'));
  });
});

describe('properties', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
  const value = fc.stringMatching(/^[\x21-\x7e\x80-\xff]([\x20-\x7e\x80-\xff]{0,20}[\x21-\x7e\x80-\xff])?$/);
  const head = fc.record({
    start: fc.tuple(token, fc.stringMatching(/^[\x21-\x7e]{1,20}$/), fc.stringMatching(/^[\x20-\x7e]{0,20}$/)),
    headers: fc.array(fc.record({ name: token, value: fc.oneof(value, fc.constant('')) }, { noNullPrototype: true }), { maxLength: 8 }),
  }, { noNullPrototype: true });
  test('encode then decode gives the head back, split anywhere', () => {
    fc.assert(fc.property(head, fc.nat(), (h, cut) => {
      const bytes = encodeHttpHead(h);
      assert.deepEqual(decodeHttpHead(bytes), { done: true, value: h, length: bytes.length });
      assert.equal(decodeHttpHead(bytes.subarray(0, cut % bytes.length)).done, false);
    }), { numRuns: 300 });
  });
  test('arbitrary bytes give a head, need more, or a CodecError — nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try {
        decodeHttpRequestHead(bytes);
        decodeHttpResponseHead(bytes);
      } catch (error) {
        assert.ok(error instanceof CodecError, String(error));
      }
    }), { numRuns: 500 });
  });
});
