// The one mapping from a failure (the reply replyFor chose, and the outcome) to an HTTP proxy client's status
// (lib/server/http-status.ts), as a table; and the exact bytes of the responses built on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Outcome } from '../../lib/server/types.ts';
import { encodeHttpConnected, encodeHttpFailure, httpStatusFor } from '../../lib/server/http-status.ts';

const table: Array<[string, number, Outcome, number]> = [
  ['a rule (0x02)', 0x02, 'refused-rule', 403],
  ['connection refused (0x05)', 0x05, 'upstream-refused', 502],
  ['network unreachable (0x03)', 0x03, 'upstream-unreachable', 502],
  ['host unreachable or a name that does not resolve (0x04)', 0x04, 'upstream-unreachable', 502],
  ['a connect deadline (0x06)', 0x06, 'timeout', 504],
  ['a lookup deadline (0x04, timeout)', 0x04, 'timeout', 504],
  ['too many lookups in flight (0x01, limit)', 0x01, 'limit', 503],
  ['a general failure (0x01)', 0x01, 'error', 502],
  ['an upstream proxy refused by its rules (0x02 passed on)', 0x02, 'upstream-unreachable', 403],
  ['command not supported (0x07)', 0x07, 'refused-command', 501],
  ['address type not supported (0x08)', 0x08, 'bad-request', 400],
  ['a malformed request', 0x01, 'bad-request', 400],
  ['a failed login', 0x02, 'refused-auth', 407],
  ['a reply code nobody defined', 0x7f, 'error', 502],
];

for (const [name, reply, outcome, status] of table) {
  test(`httpStatusFor: ${name} → ${status}`, () => {
    assert.equal(httpStatusFor(reply, outcome), status);
  });
}

test('the bytes: 200 to CONNECT has no fields (RFC 9110 §9.3.6); a failure closes, with fixed text', () => {
  assert.equal(encodeHttpConnected().toString(), 'HTTP/1.1 200 Connection established\r\n\r\n');
  assert.equal(encodeHttpFailure(0x05, 'upstream-refused').toString(), 'HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 25\r\nConnection: close\r\n\r\nsocx: connection refused\n');
  assert.equal(encodeHttpFailure(0x06, 'timeout').toString(), 'HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nsocx: timed out\n');
});
