// systemResolver (the clients' lookup) with a stand-in for dns.lookup: no real DNS, and a getaddrinfo that
// never returns is easy to have.

import assert from 'node:assert/strict';
import type { LookupAllOptions } from 'node:dns';
import { test } from 'node:test';
import type { LookupFunction } from '../../lib/resolver/backends.ts';
import { systemResolver } from '../../lib/resolver/resolver.ts';
import { addressesOf, lookupOnce } from './resolver-helpers.ts';

function failingWith(code: string): LookupFunction {
  return (host, _options, callback) => callback(Object.assign(new Error(`getaddrinfo ${code} ${host}`), { code }), []);
}

test('answers by the deadline with ETIMEOUT when getaddrinfo never returns', async () => {
  const resolver = systemResolver(150, { lookup: () => {} });
  const outcome = await lookupOnce(resolver, 'stuck.example', '');
  assert.equal(outcome.code, 'ETIMEOUT');
  assert.equal(outcome.message, 'lookup of stuck.example timed out after 150 ms');
  resolver.close();
});

test('passes all addresses in the order asked for, and the name as given', async () => {
  const seen: Array<{ host: string; options: LookupAllOptions }> = [];
  const lookup: LookupFunction = (host, options, callback) => {
    seen.push({ host, options });
    callback(null, [{ address: '2001:db8::1', family: 6 }, { address: '192.0.2.1', family: 4 }]);
  };
  const resolver = systemResolver(1_000, { lookup, order: 'ipv6first', family: 0 });
  assert.deepEqual(addressesOf(await lookupOnce(resolver, 'Host.Example.', '')), ['2001:db8::1', '192.0.2.1']);
  assert.deepEqual(seen, [{ host: 'Host.Example.', options: { all: true, family: 0, order: 'ipv6first' } }]);
  resolver.close();
});

test('numeric hosts never reach getaddrinfo', async () => {
  const resolver = systemResolver(1_000, { lookup: () => assert.fail('looked up') });
  assert.deepEqual(addressesOf(await lookupOnce(resolver, '0x7f000001', '')), ['127.0.0.1']);
  resolver.close();
});

test('getaddrinfo errors map to ENOTFOUND or EAI_AGAIN', async () => {
  const cases: ReadonlyArray<readonly [string, string]> = [['ENOTFOUND', 'ENOTFOUND'], ['EAI_NODATA', 'ENOTFOUND'], ['EAI_AGAIN', 'EAI_AGAIN'], ['EAI_FAIL', 'EAI_AGAIN']];
  for (const [given, expected] of cases) {
    const resolver = systemResolver(1_000, { lookup: failingWith(given) });
    const outcome = await lookupOnce(resolver, 'x.example', '');
    assert.equal(outcome.code, expected, given);
    resolver.close();
  }
});

test('no cap: many lookups from one caller all wait for their answers', async () => {
  const resolver = systemResolver(100, { lookup: () => {} });
  const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => lookupOnce(resolver, `n${i}.example`, '')));
  assert.deepEqual(new Set(outcomes.map((o) => o.code)), new Set(['ETIMEOUT']));
  resolver.close();
});
