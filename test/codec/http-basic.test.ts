/** basicCredentials against RFC 7617's own examples (§2 and §2.1, UTF-8). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basicCredentials } from '../../lib/codec/http-basic.ts';

test('RFC 7617 §2: Aladdin / open sesame', () => {
  assert.equal(basicCredentials('Aladdin', 'open sesame'), 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
});

test('RFC 7617 §2.1: test / 123£ in UTF-8', () => {
  assert.equal(basicCredentials('test', '123\u00a3'), 'Basic dGVzdDoxMjPCow==');
});

test('an empty password keeps the colon', () => {
  assert.equal(basicCredentials('alice', ''), `Basic ${Buffer.from('alice:').toString('base64')}`);
});
