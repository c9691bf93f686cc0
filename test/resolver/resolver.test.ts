// The server's resolver against name servers on loopback (test/resolver/dns-responder.ts): no query ever
// leaves the machine, and /etc/hosts is never read (each resolver gets its own hosts file).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createResolver, type ResolverOptions } from '../../lib/resolver/resolver.ts';
import { startDnsResponder, type DnsAnswer, type DnsResponder } from './dns-responder.ts';
import { addressesOf, lookupOnce, startLookup, tempHosts, type TempHosts } from './resolver-helpers.ts';

const NAMES: Readonly<Record<string, DnsAnswer>> = {
  'live.test': { a: ['192.0.2.10', '192.0.2.11'], aaaa: ['2001:db8::10'], ttl: 30 },
  'short.test': { a: ['192.0.2.20'], ttl: 0 },
  'v6.test': { aaaa: ['2001:db8::30'] },
  'empty.test': {},
  'gone.test': 'nxdomain',
  'broken.test': 'servfail',
};

/** Names not in the table (dead-*.test and anything else) are never answered. */
function answer(name: string, type: string): DnsAnswer {
  if (name === 'no-aaaa.test') return type === 'A' ? { a: ['192.0.2.40'] } : 'blackhole';
  return NAMES[name] ?? 'blackhole';
}

let dns: DnsResponder;
let hosts: TempHosts;
before(async () => {
  dns = await startDnsResponder(answer);
  hosts = tempHosts('# test hosts\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.0.2.99 Box.Test box\n');
});
after(async () => {
  await dns.close();
  hosts.cleanup();
});

function resolverWith(options: ResolverOptions = {}): ReturnType<typeof createResolver> {
  return createResolver({ servers: [dns.server], hostsFile: hosts.path, timeoutMs: 60_000, ...options });
}

function queriesFor(name: string): string[] {
  return dns.queries.filter((q) => q.endsWith(` ${name}`));
}

describe('a blackholed name server delays nobody else', () => {
  test('localhost, an IP literal and a live name answer while 50 dead names are in flight', async () => {
    const resolver = resolverWith({ maxInFlight: 100 });
    try {
      // Fifty clients, one dead name each; the deadline (60 s) is far beyond this test, so they stay in flight.
      const dead = Array.from({ length: 50 }, (_, i) => startLookup(resolver, `dead-${i}.test`, `198.51.100.${i}`));
      assert.deepEqual(resolver.inFlight, { waiting: 50, names: 50 });
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'localhost')), ['127.0.0.1', '::1']);
      assert.deepEqual(addressesOf(await lookupOnce(resolver, '203.0.113.7')), ['203.0.113.7']);
      assert.deepEqual(addressesOf(await lookupOnce(resolver, '::1')), ['::1']);
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'live.test')), ['192.0.2.10', '192.0.2.11', '2001:db8::10']);
      assert.equal(dead.filter((d) => d.answered()).length, 0, 'the dead names were still in flight');
      assert.deepEqual(queriesFor('localhost'), [], 'localhost never went to the name server');
    } finally {
      resolver.close();
    }
  });

  test('with getaddrinfo as the backend, the hosts file and literals still bypass it', async () => {
    let calls = 0;
    const resolver = resolverWith({ mechanism: 'system', maxInFlight: 10, lookup: () => { calls++; } }); // never answers
    try {
      const dead = [startLookup(resolver, 'dead-a.test'), startLookup(resolver, 'dead-b.test', '198.51.100.2')];
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'localhost')), ['127.0.0.1', '::1']);
      assert.deepEqual(addressesOf(await lookupOnce(resolver, '127.1')), ['127.0.0.1']);
      assert.equal(calls, 2);
      assert.equal(dead.filter((d) => d.answered()).length, 0);
    } finally {
      resolver.close();
    }
  });
});

describe('answers', () => {
  test('both families, IPv4 first by default, IPv6 first on request', async () => {
    const v4first = resolverWith();
    const v6first = resolverWith({ order: 'ipv6first' });
    try {
      assert.deepEqual((await lookupOnce(v4first, 'live.test')).addresses, [
        { address: '192.0.2.10', family: 4 }, { address: '192.0.2.11', family: 4 }, { address: '2001:db8::10', family: 6 },
      ]);
      assert.deepEqual(addressesOf(await lookupOnce(v6first, 'live.test')), ['2001:db8::10', '192.0.2.10', '192.0.2.11']);
      assert.deepEqual(addressesOf(await lookupOnce(v4first, 'v6.test')), ['2001:db8::30']);
    } finally {
      v4first.close();
      v6first.close();
    }
  });

  test('family 4 asks for A records only, and refuses an IPv6 literal', async () => {
    const resolver = resolverWith({ family: 4, cacheSize: 0 });
    try {
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'live.test')), ['192.0.2.10', '192.0.2.11']);
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'localhost')), ['127.0.0.1']);
      assert.equal((await lookupOnce(resolver, '::1')).code, 'ENOTFOUND');
      const before = dns.queries.length;
      await lookupOnce(resolver, 'live.test');
      assert.deepEqual(dns.queries.slice(before), ['A live.test']);
    } finally {
      resolver.close();
    }
  });

  test('an unanswered AAAA does not hold up the A answer until the deadline', async () => {
    const resolver = resolverWith();
    try {
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'no-aaaa.test')), ['192.0.2.40']);
    } finally {
      resolver.close();
    }
  });

  test('hosts file names are case-insensitive and may end with the root dot', async () => {
    const resolver = resolverWith();
    try {
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'BOX.test.')), ['192.0.2.99']);
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'box')), ['192.0.2.99']);
      assert.deepEqual(queriesFor('box.test'), []);
    } finally {
      resolver.close();
    }
  });

  test('the callback is never called synchronously', async () => {
    const resolver = resolverWith();
    try {
      for (const host of ['localhost', '192.0.2.1', 'live.test', '']) {
        let returned = false;
        const called = new Promise<boolean>((resolve) => resolver.lookup(host, 'c', () => resolve(returned)));
        returned = true;
        assert.equal(await called, true, host);
      }
    } finally {
      resolver.close();
    }
  });
});

describe('failures carry errno-style codes', () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['gone.test', 'ENOTFOUND'],     // NXDOMAIN
    ['empty.test', 'ENOTFOUND'],    // NOERROR without records, for both families
    ['broken.test', 'EAI_AGAIN'],   // SERVFAIL
    ['', 'ENOTFOUND'],
  ];
  for (const [host, code] of cases) {
    test(`${JSON.stringify(host)} → ${code}`, async () => {
      const resolver = resolverWith();
      try {
        const outcome = await lookupOnce(resolver, host);
        assert.equal(outcome.code, code, outcome.message);
        assert.deepEqual(outcome.addresses, []);
      } finally {
        resolver.close();
      }
    });
  }

  test('a dead name times out at the lookup deadline with ETIMEOUT', async () => {
    const resolver = resolverWith({ timeoutMs: 200 });
    try {
      const outcome = await lookupOnce(resolver, 'dead-timeout.test');
      assert.equal(outcome.code, 'ETIMEOUT');
      assert.equal(outcome.message, 'lookup of dead-timeout.test timed out after 200 ms');
      assert.deepEqual(resolver.inFlight.waiting, 0);
    } finally {
      resolver.close();
    }
  });

  test('close() fails what is pending with ECANCELLED', async () => {
    const resolver = resolverWith();
    const pending = startLookup(resolver, 'dead-close.test');
    resolver.close();
    assert.equal((await pending.outcome).code, 'ECANCELLED');
    assert.deepEqual(resolver.inFlight, { waiting: 0, names: 0 });
  });
});

describe('caps', () => {
  test('a client over its cap is refused at once; other clients and local names are not', async () => {
    const resolver = resolverWith({ maxInFlightPerClient: 2 });
    try {
      const held = [startLookup(resolver, 'dead-cap-1.test', '198.51.100.1'), startLookup(resolver, 'dead-cap-2.test', '198.51.100.1')];
      const refused = await lookupOnce(resolver, 'live.test', '198.51.100.1');
      assert.equal(refused.code, 'ELOOKUPLIMIT');
      assert.equal(refused.message, 'lookup of live.test refused: 2 lookups of this client in flight');
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'localhost', '198.51.100.1')), ['127.0.0.1', '::1']);
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'live.test', '198.51.100.2')), ['192.0.2.10', '192.0.2.11', '2001:db8::10']);
      assert.equal(held.filter((h) => h.answered()).length, 0);
    } finally {
      resolver.close();
    }
  });

  test('an IPv6 client is counted as its /64: other addresses of it share the cap, another /64 does not', async () => {
    const resolver = resolverWith({ maxInFlightPerClient: 2 });
    try {
      const held = [startLookup(resolver, 'dead-v6-1.test', '2001:db8:1:2::1'), startLookup(resolver, 'dead-v6-2.test', '2001:db8:1:2::2')];
      const refused = await lookupOnce(resolver, 'live.test', '2001:db8:1:2:ffff::3');
      assert.equal(refused.code, 'ELOOKUPLIMIT');
      assert.equal(refused.message, 'lookup of live.test refused: 2 lookups of this client in flight');
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'live.test', '2001:db8:1:3::1')), ['192.0.2.10', '192.0.2.11', '2001:db8::10']);
      assert.equal(held.filter((h) => h.answered()).length, 0);
    } finally {
      resolver.close();
    }
  });

  test('the global cap counts names in flight; asking again for one of them joins it', async () => {
    const resolver = resolverWith({ maxInFlight: 2, cacheSize: 0 });
    try {
      startLookup(resolver, 'dead-g1.test', '198.51.100.1');
      startLookup(resolver, 'dead-g2.test', '198.51.100.2');
      const joined = startLookup(resolver, 'dead-g1.test', '198.51.100.3');
      assert.equal((await lookupOnce(resolver, 'live.test', '198.51.100.4')).code, 'ELOOKUPLIMIT');
      assert.deepEqual(resolver.inFlight, { waiting: 3, names: 2 });
      assert.equal(joined.answered(), false);
    } finally {
      resolver.close();
    }
  });

  test('after the deadline a dead name still counts until its query ends, and is not sent again meanwhile', async () => {
    let answer: ((error: NodeJS.ErrnoException | null, addresses: Array<{ address: string; family: number }>) => void) | undefined;
    let calls = 0;
    const resolver = resolverWith({ mechanism: 'system', timeoutMs: 100, maxInFlight: 1, lookup: (_host, _options, callback) => { calls++; answer = callback; } });
    try {
      assert.equal((await lookupOnce(resolver, 'slow.test')).code, 'ETIMEOUT');
      assert.deepEqual(resolver.inFlight, { waiting: 0, names: 1 });
      assert.equal((await lookupOnce(resolver, 'other.test')).code, 'ELOOKUPLIMIT');
      const again = startLookup(resolver, 'slow.test');
      answer!(null, [{ address: '192.0.2.50', family: 4 }]);
      assert.deepEqual(addressesOf(await again.outcome), ['192.0.2.50']);
      assert.equal(calls, 1);
      assert.deepEqual(resolver.inFlight, { waiting: 0, names: 0 });
    } finally {
      resolver.close();
    }
  });
});

describe('cache', () => {
  test('an answer is kept for its TTL; TTL 0 is not kept', async () => {
    const resolver = resolverWith();
    try {
      await lookupOnce(resolver, 'live.test');
      const before = queriesFor('live.test').length;
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'Live.Test')), ['192.0.2.10', '192.0.2.11', '2001:db8::10']);
      assert.equal(queriesFor('live.test').length, before);
      const shortBefore = queriesFor('short.test').length;
      await lookupOnce(resolver, 'short.test');
      await lookupOnce(resolver, 'short.test');
      assert.deepEqual(queriesFor('short.test').slice(shortBefore).filter((q) => q.startsWith('A ')), ['A short.test', 'A short.test']);
    } finally {
      resolver.close();
    }
  });

  test('no cache with cacheSize 0', async () => {
    const resolver = resolverWith({ cacheSize: 0 });
    try {
      const before = queriesFor('v6.test').length;
      await lookupOnce(resolver, 'v6.test');
      await lookupOnce(resolver, 'v6.test');
      assert.equal(queriesFor('v6.test').length, before + 4);
    } finally {
      resolver.close();
    }
  });
});

describe('the hosts file', () => {
  test('is read again when it changes, and a missing one sends names to the name servers', async () => {
    const file = tempHosts('192.0.2.1 moving.test\n');
    const resolver = createResolver({ servers: [dns.server], hostsFile: file.path, hostsCheckIntervalMs: 0, timeoutMs: 60_000 });
    try {
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'moving.test')), ['192.0.2.1']);
      file.write('192.0.2.222 moving.test # moved\n');
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'moving.test')), ['192.0.2.222']);
      file.write('192.0.2.1 gone.test\n');
      assert.deepEqual(addressesOf(await lookupOnce(resolver, 'gone.test')), ['192.0.2.1'], 'the hosts file comes before DNS');
      file.remove();
      assert.equal((await lookupOnce(resolver, 'gone.test')).code, 'ENOTFOUND', 'without the file, DNS answers NXDOMAIN');
    } finally {
      resolver.close();
      file.cleanup();
    }
  });
});

test('a name longer than 253 characters, or with a label over 63, is not a DNS name: ENOTFOUND at once, no query', async () => {
  const dns = await startDnsResponder(() => 'blackhole');
  const resolver = createResolver({ servers: [dns.server], hostsFile: null, timeoutMs: 5000 });
  try {
    for (const name of [Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.'), `${'b'.repeat(64)}.test`, 'a..b']) {
      const started = performance.now();
      const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => resolver.lookup(name, '127.0.0.1', (e) => resolve(e)));
      assert.equal(error?.code, 'ENOTFOUND', name);
      assert.ok(performance.now() - started < 1000);
    }
    assert.deepEqual(dns.queries, []);
  } finally {
    resolver.close();
    await dns.close();
  }
});
