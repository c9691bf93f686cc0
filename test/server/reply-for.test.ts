// The one mapping from a failure to the reply a client gets (lib/server/reply-for.ts), as a table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodecError } from '../../lib/codec/decoded.ts';
import { errnoCode, SocxError } from '../../lib/errors.ts';
import { lookupError } from '../../lib/resolver/types.ts';
import { replyFor } from '../../lib/server/reply-for.ts';

const errno = (code: string): Error => Object.assign(new Error(code), { code });

const table: Array<[string, unknown, number]> = [
  ['ECONNREFUSED', errno('ECONNREFUSED'), 0x05],
  ['ENETUNREACH', errno('ENETUNREACH'), 0x03],
  ['ENETDOWN', errno('ENETDOWN'), 0x03],
  ['EHOSTUNREACH', errno('EHOSTUNREACH'), 0x04],
  ['ENOTFOUND (lookup)', lookupError('ENOTFOUND', 'x.test', 'no such name'), 0x04],
  ['ETIMEOUT (our lookup deadline)', lookupError('ETIMEOUT', 'x.test', 'timed out'), 0x04],
  ['EAI_AGAIN', lookupError('EAI_AGAIN', 'x.test', 'servfail'), 0x04],
  ['ELOOKUPLIMIT', lookupError('ELOOKUPLIMIT', 'x.test', 'too many'), 0x01],
  ['ETIMEDOUT (TCP)', errno('ETIMEDOUT'), 0x06],
  ['EACCES', errno('EACCES'), 0x02],
  ['EAFNOSUPPORT', errno('EAFNOSUPPORT'), 0x08],
  ['ECONNRESET', errno('ECONNRESET'), 0x01],
  ['EMFILE', errno('EMFILE'), 0x01],
  ['an unknown errno', errno('EWEIRD'), 0x01],
  ['our connect deadline', new SocxError('timeout', 'connecting timed out'), 0x06],
  ['a policy refusal', new SocxError('not-allowed', 'rule'), 0x02],
  ['an upstream SOCKS5 refusal keeps its code', new SocxError('request-rejected', 'refused', { reply: { version: 5, code: 0x05 } }), 0x05],
  ['an upstream SOCKS4 refusal', new SocxError('request-rejected', 'refused', { reply: { version: 4, code: 0x5b } }), 0x01],
  ['an upstream SOCKS4 identd refusal (0x5C)', new SocxError('request-rejected', 'refused', { reply: { version: 4, code: 0x5c } }), 0x02],
  ['an upstream SOCKS4 identd mismatch (0x5D)', new SocxError('request-rejected', 'refused', { reply: { version: 4, code: 0x5d } }), 0x02],
  ['an upstream SOCKS5 reply cut short after its code (05 04)', new SocxError('proxy-closed', 'closed', { proxy: 'socks5h://u:1080', reply: { version: 5, code: 0x04, short: true } }), 0x04],
  ['an upstream that closed mid-handshake', new SocxError('proxy-closed', 'closed', { proxy: 'socks5h://u:1080' }), 0x01],
  ['an upstream that cannot be reached (its ECONNREFUSED is not the target refusing)', new SocxError('proxy-unreachable', 'cannot connect', { proxy: 'socks5h://u:1080', cause: errno('ECONNREFUSED') }), 0x01],
  ['an upstream refusing our login', new SocxError('auth-failed', 'rejected', { proxy: 'socks5h://u:1080' }), 0x01],
  ['an upstream that does not speak SOCKS', new SocxError('protocol', 'HTTP', { proxy: 'socks5h://u:1080' }), 0x01],
  ['an upstream that does not answer in time', new SocxError('timeout', 'no answer', { proxy: 'socks5h://u:1080' }), 0x06],
  ['an HTTP upstream\'s 403', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 403, reason: 'x' } }), 0x02],
  ['an HTTP upstream\'s 404', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 404, reason: 'x' } }), 0x04],
  ['an HTTP upstream\'s 405', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 405, reason: 'x' } }), 0x07],
  ['an HTTP upstream\'s 451', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 451, reason: 'x' } }), 0x02],
  ['an HTTP upstream\'s 500', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 500, reason: 'x' } }), 0x01],
  ['an HTTP upstream\'s 501', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 501, reason: 'x' } }), 0x07],
  ['an HTTP upstream\'s 502', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 502, reason: 'x' } }), 0x04],
  ['an HTTP upstream\'s 503', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 503, reason: 'x' } }), 0x05],
  ['an HTTP upstream\'s 504', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 504, reason: 'x' } }), 0x06],
  ['an HTTP upstream\'s 400', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 400, reason: 'x' } }), 0x01],
  ['an HTTP upstream\'s 429', new SocxError('request-rejected', 'refused', { proxy: 'http://u:3128', reply: { version: 'http', code: 429, reason: 'x' } }), 0x01],
  ['an HTTP upstream refusing our login (407)', new SocxError('auth-failed', 'refused authentication', { proxy: 'http://u:3128' }), 0x01],
  ['a hop that will not reach the next hop (no reply kept: the route is broken)', new SocxError('request-rejected', 'cannot connect to proxy', { proxy: 'socks5h://b:1080' }), 0x01],
  ['hop 1 of 2 refusing to reach hop 2 with 0x05: the route is broken, not the target', new SocxError('request-rejected', 'refused', { proxy: 'socks5h://a:1080', hop: 1, beforeLastHop: true, reply: { version: 5, code: 0x05 } }), 0x01],
  ['hop 1 of 2 cutting its 0x05 short', new SocxError('proxy-closed', 'closed', { proxy: 'socks5h://a:1080', hop: 1, beforeLastHop: true, reply: { version: 5, code: 0x05, short: true } }), 0x01],
  ['hop 1 of 2, an HTTP proxy, answering 503 for hop 2', new SocxError('request-rejected', 'refused', { proxy: 'http://a:3128', hop: 1, beforeLastHop: true, reply: { version: 'http', code: 503, reason: 'x' } }), 0x01],
  ['the last hop of 2 refusing the target with 0x05 keeps it', new SocxError('request-rejected', 'refused', { proxy: 'socks5h://b:1080', hop: 2, reply: { version: 5, code: 0x05 } }), 0x05],
  ['a SocxError wrapping an errno', new SocxError('network', 'failed', { cause: errno('EHOSTUNREACH') }), 0x04],
  ['a malformed request', new CodecError('bad-reserved', 'RSV'), 0x01],
  ['an address type we cannot read', new CodecError('bad-address-type', 'ATYP'), 0x08],
  ['not an error at all', 'something', 0x01],
];

for (const [name, error, code] of table) {
  test(`replyFor: ${name} → 0x${code.toString(16).padStart(2, '0')}`, () => {
    assert.equal(replyFor(error), code);
  });
}

test('errnoCode is only ever an errno-style code, never our own error codes', () => {
  assert.equal(errnoCode(errno('ECONNREFUSED')), 'ECONNREFUSED');
  assert.equal(errnoCode(lookupError('ETIMEOUT', 'x', 'y')), 'ETIMEOUT');
  assert.equal(errnoCode(new SocxError('timeout', 'x')), undefined);
  assert.equal(errnoCode(new CodecError('bad-version', 'x')), undefined);
  assert.equal(errnoCode(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_VALUE' })), undefined, "Node's own ERR_ codes are not errno codes");
});
