// The resolver's pure parts: numeric hosts, hosts(5) parsing, the bounded cache, the pool-slot count.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnswerCache } from '../../lib/resolver/answer-cache.ts';
import { systemLookupSlots } from '../../lib/resolver/backends.ts';
import { hostKey, parseHosts } from '../../lib/resolver/hosts-file.ts';
import { numericAddress } from '../../lib/resolver/numeric-host.ts';

test('numeric hosts: IP literals and the inet_aton spellings getaddrinfo accepts, nothing else', () => {
  const cases: ReadonlyArray<readonly [string, string | undefined, (4 | 6)?]> = [
    ['127.0.0.1', '127.0.0.1', 4],
    ['127.1', '127.0.0.1', 4],
    ['1.2.3', '1.2.0.3', 4],
    ['10.65535', '10.0.255.255', 4],
    ['2130706433', '127.0.0.1', 4],
    ['0x7f000001', '127.0.0.1', 4],
    ['0X7F.1', '127.0.0.1', 4],
    ['0177.0.0.1', '127.0.0.1', 4],
    ['0', '0.0.0.0', 4],
    ['4294967295', '255.255.255.255', 4],
    ['::1', '::1', 6],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1', 6],
    ['fe80::1%lo', 'fe80::1%lo', 6],
    ['4294967296', undefined],
    ['256.1.1.1', undefined],
    ['1.256.1.1', undefined],
    ['1.2.65536', undefined],
    ['08', undefined],
    ['0x', undefined],
    ['1.2.3.4.5', undefined],
    ['127.0.0.1.', undefined],
    ['127..1', undefined],
    ['1e3', undefined],
    [' 127.0.0.1', undefined],
    ['example.com', undefined],
    ['', undefined],
  ];
  for (const [host, address, family] of cases) {
    assert.deepEqual(numericAddress(host), address === undefined ? undefined : { address, family }, host);
  }
});

test('hosts(5): comments, blank and bad lines, aliases, case, first line first, families ordered', () => {
  const text = [
    '# comment',
    '',
    '127.0.0.1\tlocalhost loopback # trailing comment',
    '::1 localhost ip6-localhost',
    'not-an-ip some.name',
    '192.0.2.1 Web.Example web',
    '192.0.2.2 web.example',
    '192.0.2.1 web.example',
    '   ',
  ].join('\n');
  const v4 = parseHosts(text, 'ipv4first');
  assert.deepEqual([...v4.keys()], ['localhost', 'loopback', 'ip6-localhost', 'web.example', 'web']);
  assert.deepEqual(v4.get('localhost'), [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]);
  assert.deepEqual(v4.get('web.example')?.map((a) => a.address), ['192.0.2.1', '192.0.2.2']);
  assert.deepEqual(parseHosts(text, 'ipv6first').get('localhost')?.map((a) => a.address), ['::1', '127.0.0.1']);
  assert.equal(hostKey('LocalHost.'), 'localhost');
});

test('the cache keeps answers for their TTL, capped, and holds at most maxEntries names', () => {
  const answer = Object.freeze([{ address: '192.0.2.1', family: 4 as const }]);
  const cache = new AnswerCache(2, 1_000);
  cache.set('a', answer, 500, 0);
  cache.set('long', answer, 60_000, 0);
  assert.equal(cache.get('a', 499), answer);
  assert.equal(cache.get('a', 500), undefined);
  assert.equal(cache.get('long', 999), answer);
  assert.equal(cache.get('long', 1_000), undefined, 'capped at maxTtlMs');
  cache.set('x', answer, 0, 0);
  assert.equal(cache.get('x', 0), undefined, 'TTL 0 is not kept');
  cache.set('1', answer, 500, 0);
  cache.set('2', answer, 500, 0);
  cache.set('3', answer, 500, 0);
  assert.equal(cache.size, 2);
  assert.equal(cache.get('1', 1), undefined, 'the oldest went');
  assert.equal(cache.get('3', 1), answer);
  const none = new AnswerCache(0, 1_000);
  none.set('a', answer, 500, 0);
  assert.equal(none.size, 0);
});

test('getaddrinfo slots are half of libuv\'s pool, rounded up', () => {
  assert.equal(systemLookupSlots({}), 2);
  assert.equal(systemLookupSlots({ UV_THREADPOOL_SIZE: '5' }), 3);
  assert.equal(systemLookupSlots({ UV_THREADPOOL_SIZE: '64' }), 32);
  assert.equal(systemLookupSlots({ UV_THREADPOOL_SIZE: 'lots' }), 2);
});
