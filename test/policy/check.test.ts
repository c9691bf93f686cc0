/** Policy.check: each rule kind, first match wins, the named sets at their edges, the defaults on exposed and
 * loopback-only listeners, every spelling of loopback; Policy.precheck and the startup summary. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { HostAddresses, type InterfaceReader } from '../../lib/policy/host-addresses.ts';
import { Policy, type PolicyQuery, type RequestQuery } from '../../lib/policy/policy.ts';

const base: PolicyQuery = { clientIp: '192.0.2.10', destIp: '198.51.100.7', destName: undefined, port: 443, command: 'connect', user: undefined };

/** A machine whose interfaces have these addresses, as os.networkInterfaces() lists them. */
function interfaces(...addresses: string[]): InterfaceReader {
  return () => ({ eth0: addresses.map((address) => ({ address, family: address.includes(':') ? 'IPv6' : 'IPv4', internal: false }) as NetworkInterfaceInfo) });
}
const thisHost = new HostAddresses(interfaces('127.0.0.1', '203.0.113.5', '2001:db8:5::5'));

function verdictOf(rules: readonly string[], query: Partial<PolicyQuery>, exposed = true): string {
  const verdict = Policy.parse(rules, thisHost).check({ ...base, ...query }, exposed);
  // The rule text says which way it went; check the flag agrees with it.
  assert.equal(verdict.allowed, verdict.rule.startsWith('allow') || verdict.rule === 'default: allow', verdict.rule);
  return verdict.rule;
}

const ALLOWED = 'default: allow';
const UNSPECIFIED = 'default: deny unspecified (not a destination)';
const LOOPBACK = 'default: deny loopback (non-loopback listener)';
const LINK_LOCAL = 'default: deny link-local (non-loopback listener)';
const THIS_HOST = "default: deny this host's addresses (non-loopback listener)";

describe('named sets, at their edges', () => {
  const members: Readonly<Record<string, { in: readonly string[]; out: readonly string[] }>> = {
    loopback: { in: ['127.0.0.0', '127.0.0.1', '127.255.255.255', '::1'], out: ['126.255.255.255', '128.0.0.0', '::2', '::'] },
    private: {
      in: ['10.0.0.0', '10.255.255.255', '172.16.0.0', '172.31.255.255', '192.168.0.0', '192.168.255.255', '100.64.0.0', '100.127.255.255', 'fc00::', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:10.1.2.3'],
      // The metadata addresses inside 100.64/10 and fc00::/7 are link-local, not private.
      out: ['9.255.255.255', '11.0.0.0', '172.15.255.255', '172.32.0.0', '192.167.255.255', '192.169.0.0', '100.63.255.255', '100.128.0.0', 'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fe00::', '100.100.100.200', 'fd00:ec2::254'],
    },
    'link-local': {
      in: ['169.254.0.0', '169.254.169.254', '169.254.255.255', 'fe80::', 'fe80::1%eth0', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fd00:ec2::254', '100.100.100.200', '::ffff:169.254.169.254'],
      out: ['169.253.255.255', '169.255.0.0', 'fec0::', 'fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fd00:ec2::253', '100.100.100.201'],
    },
    unspecified: { in: ['0.0.0.0', '0.255.255.255', '::', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0'], out: ['1.0.0.0', '::1', '::0:1'] },
    multicast: { in: ['224.0.0.0', '239.255.255.255', 'ff00::', 'ff02::1', 'FF05::1:3'], out: ['223.255.255.255', '240.0.0.0', 'fe80::'] },
    any: { in: ['1.1.1.1', '2001:db8::1', '255.255.255.255'], out: [] },
  };
  for (const [set, { in: inside, out }] of Object.entries(members)) {
    test(set, () => {
      for (const ip of inside) {
        // The unspecified address never reaches a rule: it is refused first.
        const expected = set === 'unspecified' ? UNSPECIFIED : `deny to=${set}`;
        assert.equal(verdictOf([`deny to=${set}`], { destIp: ip }, false), expected, `${ip} is ${set}`);
      }
      for (const ip of out) assert.notEqual(verdictOf([`deny to=${set}`], { destIp: ip }, false), `deny to=${set}`, `${ip} is not ${set}`);
    });
  }
});

describe('rule kinds', () => {
  test('to=CIDR, IPv4', () => {
    assert.equal(verdictOf(['deny to=198.51.100.0/24'], { destIp: '198.51.100.255' }), 'deny to=198.51.100.0/24');
    assert.equal(verdictOf(['deny to=198.51.100.0/24'], { destIp: '198.51.101.0' }), ALLOWED);
    assert.equal(verdictOf(['deny to=198.51.100.7'], { destIp: '198.51.100.7' }), 'deny to=198.51.100.7');
    assert.equal(verdictOf(['deny to=198.51.100.7'], { destIp: '198.51.100.8' }), ALLOWED);
    assert.equal(verdictOf(['deny to=0.0.0.0/0'], { destIp: '2001:db8::1' }), ALLOWED, 'an IPv4 CIDR never matches IPv6');
    assert.equal(verdictOf(['deny to=0.0.0.0/0'], { destIp: '::ffff:198.51.100.7' }), 'deny to=0.0.0.0/0', 'mapped is IPv4');
  });

  test('to=CIDR, IPv6: any spelling of the address', () => {
    const rule = 'deny to=2001:db8:aa::/48';
    for (const ip of ['2001:db8:aa::1', '2001:DB8:AA:0:0:0:0:1', '2001:0db8:00aa:ffff::', '2001:db8:aa:ffff:ffff:ffff:ffff:ffff']) {
      assert.equal(verdictOf([rule], { destIp: ip }), rule, ip);
    }
    for (const ip of ['2001:db8:ab::1', '2001:db8::1', '198.51.100.7']) assert.equal(verdictOf([rule], { destIp: ip }), ALLOWED, ip);
    assert.equal(verdictOf(['deny to=::/0'], { destIp: '198.51.100.7' }), ALLOWED, 'an IPv6 CIDR never matches IPv4');
  });

  test('to=CIDR in ::ffff:0:0/96 is the IPv4 CIDR it spells', () => {
    assert.equal(verdictOf(['deny to=::ffff:198.51.100.0/120'], { destIp: '198.51.100.9' }), 'deny to=::ffff:198.51.100.0/120');
    assert.equal(verdictOf(['deny to=::ffff:c633:6400/120'], { destIp: '::ffff:198.51.100.9' }), 'deny to=::ffff:c633:6400/120');
    assert.equal(verdictOf(['deny to=::ffff:198.51.100.0/120'], { destIp: '198.51.101.9' }), ALLOWED);
  });

  test('to=NAME matches the asked name, in any case, with or without the final dot, never the address', () => {
    const rule = 'deny to=Internal.Example.com';
    for (const name of ['internal.example.com', 'INTERNAL.EXAMPLE.COM', 'internal.example.com.', 'ｉｎｔｅｒｎａｌ.example.com']) {
      assert.equal(verdictOf([rule], { destName: name }), rule, name);
    }
    for (const name of ['a.internal.example.com', 'internal.example.co', 'example.com', 'internal.example.com..']) {
      assert.equal(verdictOf([rule], { destName: name }), ALLOWED, name);
    }
    assert.equal(verdictOf([rule], { destName: undefined }), ALLOWED, 'an address asked for is not a name');
    assert.equal(verdictOf(['deny to=bücher.de'], { destName: 'xn--bcher-kva.de' }), 'deny to=bücher.de');
  });

  test('to=*.suffix matches the domain and every name under it, nothing else', () => {
    const rule = 'deny to=*.example.com';
    for (const name of ['example.com', 'a.example.com', 'a.b.example.com', 'A.Example.COM.']) assert.equal(verdictOf([rule], { destName: name }), rule, name);
    for (const name of ['badexample.com', 'example.com.evil', 'example.co', 'com']) assert.equal(verdictOf([rule], { destName: name }), ALLOWED, name);
  });

  test('port= and port=N-M', () => {
    assert.equal(verdictOf(['deny port=25'], { port: 25 }), 'deny port=25');
    assert.equal(verdictOf(['deny port=25'], { port: 26 }), ALLOWED);
    for (const port of [6000, 6001, 6063]) assert.equal(verdictOf(['deny port=6000-6063'], { port }), 'deny port=6000-6063', String(port));
    for (const port of [5999, 6064]) assert.equal(verdictOf(['deny port=6000-6063'], { port }), ALLOWED, String(port));
  });

  test('from=CIDR and from=SET, with the client as its socket reports it', () => {
    assert.equal(verdictOf(['deny from=192.0.2.0/28'], { clientIp: '192.0.2.15' }), 'deny from=192.0.2.0/28');
    assert.equal(verdictOf(['deny from=192.0.2.0/28'], { clientIp: '::ffff:192.0.2.15' }), 'deny from=192.0.2.0/28');
    assert.equal(verdictOf(['deny from=192.0.2.0/28'], { clientIp: '192.0.2.16' }), ALLOWED);
    assert.equal(verdictOf(['deny from=private'], { clientIp: '10.9.8.7' }), 'deny from=private');
    assert.equal(verdictOf(['deny from=private'], { clientIp: '192.0.2.1' }), ALLOWED);
    assert.equal(verdictOf(['deny from=2001:db8::/32'], { clientIp: '2001:db8::5' }), 'deny from=2001:db8::/32');
    assert.equal(verdictOf(['deny from=any'], { clientIp: '2001:db8::5' }), 'deny from=any');
  });

  test('cmd=', () => {
    assert.equal(verdictOf(['deny cmd=bind'], { command: 'bind' }), 'deny cmd=bind');
    assert.equal(verdictOf(['deny cmd=bind'], { command: 'connect' }), ALLOWED);
    assert.equal(verdictOf(['deny cmd=udp'], { command: 'udp' }), 'deny cmd=udp');
    assert.equal(verdictOf(['deny cmd=udp'], { command: 'bind' }), ALLOWED);
    assert.equal(verdictOf(['deny cmd=connect'], { command: 'connect' }), 'deny cmd=connect');
  });

  test('user= matches the authenticated name exactly; no authentication matches no user= rule', () => {
    assert.equal(verdictOf(['deny user=bob'], { user: 'bob' }), 'deny user=bob');
    assert.equal(verdictOf(['deny user=bob'], { user: 'Bob' }), ALLOWED);
    assert.equal(verdictOf(['deny user=bob'], { user: undefined }), ALLOWED);
  });

  test('all terms must match', () => {
    const rule = 'deny from=192.0.2.0/24 to=198.51.100.0/24 port=22 cmd=connect user=eve';
    const hit: Partial<PolicyQuery> = { clientIp: '192.0.2.1', destIp: '198.51.100.1', port: 22, command: 'connect', user: 'eve' };
    assert.equal(verdictOf([rule], hit), rule);
    const misses: ReadonlyArray<Partial<PolicyQuery>> = [{ clientIp: '192.0.3.1' }, { destIp: '198.51.101.1' }, { port: 23 }, { command: 'bind' }, { user: 'bob' }];
    for (const miss of misses) assert.equal(verdictOf([rule], { ...hit, ...miss }), ALLOWED, JSON.stringify(miss));
  });
});

describe('order', () => {
  test('the first matching rule wins, deny or allow', () => {
    assert.equal(verdictOf(['allow port=443', 'deny to=198.51.100.0/24'], {}), 'allow port=443');
    assert.equal(verdictOf(['deny to=198.51.100.0/24', 'allow port=443'], {}), 'deny to=198.51.100.0/24');
    assert.equal(verdictOf(['allow to=198.51.100.7 port=22', 'deny any'], { port: 22 }), 'allow to=198.51.100.7 port=22');
    assert.equal(verdictOf(['allow to=198.51.100.7 port=22', 'deny any'], { port: 443 }), 'deny any');
  });

  test('an allow-list: allow some, deny the rest', () => {
    const rules = ['allow to=*.example.com port=443', 'allow to=192.0.2.0/24', 'deny any'];
    assert.equal(verdictOf(rules, { destName: 'www.example.com' }), 'allow to=*.example.com port=443');
    assert.equal(verdictOf(rules, { destName: 'www.example.com', port: 80 }), 'deny any');
    assert.equal(verdictOf(rules, { destIp: '192.0.2.200', port: 80 }), 'allow to=192.0.2.0/24');
    assert.equal(verdictOf(rules, { destIp: '203.0.113.1' }), 'deny any');
  });
});

describe('defaults', () => {
  const loopbackSpellings = ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:7F00:1', '::127.0.0.1', '::7f00:1', '127.1', '2130706433', '0x7f000001', '0177.0.0.1'];

  test('the unspecified address is refused before any rule, on any listener', () => {
    for (const ip of ['0.0.0.0', '0.1.2.3', '::', '::ffff:0.0.0.0', '0', '0x0']) {
      for (const exposed of [true, false]) {
        assert.equal(verdictOf(['allow any', 'allow to=unspecified'], { destIp: ip }, exposed), UNSPECIFIED, `${ip} ${exposed}`);
      }
    }
  });

  test('loopback-only listener: everything else is allowed, loopback in every spelling included', () => {
    for (const ip of [...loopbackSpellings, '169.254.169.254', 'fe80::1', '10.0.0.1', '224.0.0.1', '2001:db8::1']) {
      assert.equal(verdictOf([], { destIp: ip }, false), ALLOWED, ip);
    }
  });

  test('exposed listener: loopback, in every spelling, is refused', () => {
    for (const ip of loopbackSpellings) assert.equal(verdictOf([], { destIp: ip }), LOOPBACK, ip);
  });

  test('exposed listener: link-local and the metadata addresses are refused', () => {
    for (const ip of ['169.254.169.254', '::ffff:169.254.169.254', '169.254.1.1', 'fe80::1', 'fe80::1%eth0', 'fd00:ec2::254', '100.100.100.200']) {
      assert.equal(verdictOf([], { destIp: ip }), LINK_LOCAL, ip);
    }
  });

  test('exposed listener: private, multicast and public stay allowed', () => {
    for (const ip of ['10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', 'fd12::1', '224.0.0.1', '198.51.100.7', '2001:db8::1']) {
      assert.equal(verdictOf([], { destIp: ip }), ALLOWED, ip);
    }
  });

  test('a rule comes before the exposed defaults: loopback and metadata can be allowed on purpose, private denied', () => {
    assert.equal(verdictOf(['allow to=127.0.0.1 port=8080'], { destIp: '127.0.0.1', port: 8080 }), 'allow to=127.0.0.1 port=8080');
    assert.equal(verdictOf(['allow to=127.0.0.1 port=8080'], { destIp: '127.0.0.1', port: 8081 }), LOOPBACK);
    assert.equal(verdictOf(['allow loopback'], { destIp: '::ffff:127.0.0.1' }), 'allow loopback');
    assert.equal(verdictOf(['allow link-local'], { destIp: '169.254.169.254' }), 'allow link-local');
    assert.equal(verdictOf(['deny private'], { destIp: '192.168.1.1' }), 'deny private');
  });

  test('allowing private does not open the metadata service', () => {
    for (const ip of ['fd00:ec2::254', '100.100.100.200']) assert.equal(verdictOf(['allow private'], { destIp: ip }), LINK_LOCAL, ip);
  });

  test('a destination that is not an address is refused (fail closed)', () => {
    for (const ip of ['example.com', '', '1.2.3.4.5', '[::1]', '::1::']) {
      assert.equal(Policy.parse(['allow any']).check({ ...base, destIp: ip }, false).allowed, false, ip);
    }
  });
});

describe('one policy, many checks', () => {
  test('nothing carries over from one check to the next (the last address read is remembered)', () => {
    const policy = Policy.parse(['deny from=192.0.2.0/24 to=10.0.0.0/8', 'deny to=*.example.com']);
    const sequence: ReadonlyArray<readonly [Partial<PolicyQuery>, string]> = [
      [{ clientIp: '192.0.2.1', destIp: '10.0.0.1' }, 'deny from=192.0.2.0/24 to=10.0.0.0/8'],
      [{ clientIp: '203.0.113.1', destIp: '10.0.0.1' }, ALLOWED],
      [{ clientIp: '192.0.2.1', destIp: 'not an address' }, 'default: deny (not an IP address)'],
      [{ clientIp: '192.0.2.1', destIp: '10.0.0.1' }, 'deny from=192.0.2.0/24 to=10.0.0.0/8'],
      [{ clientIp: '192.0.2.1', destIp: '127.0.0.1' }, LOOPBACK],
      [{ clientIp: '192.0.2.1', destIp: '10.0.0.1', destName: 'a.example.com' }, 'deny from=192.0.2.0/24 to=10.0.0.0/8'],
      [{ clientIp: '203.0.113.1', destIp: '10.0.0.1', destName: 'a.example.com' }, 'deny to=*.example.com'],
      [{ clientIp: '203.0.113.1', destIp: '10.0.0.1', destName: 'a.example.net' }, ALLOWED],
      [{ clientIp: 'garbage', destIp: '10.0.0.1' }, ALLOWED],
      [{ clientIp: '192.0.2.1', destIp: '10.0.0.1' }, 'deny from=192.0.2.0/24 to=10.0.0.0/8'],
    ];
    for (const [query, expected] of sequence) assert.equal(policy.check({ ...base, ...query }, true).rule, expected, JSON.stringify(query));
  });
});

describe('precheck', () => {
  const request: RequestQuery = { clientIp: '192.0.2.10', destName: 'www.example.com', port: 443, command: 'connect', user: undefined };
  const precheck = (rules: readonly string[], query: Partial<RequestQuery> = {}) => Policy.parse(rules).precheck({ ...request, ...query })?.rule;

  test('a deny that holds whatever the address refuses before the lookup', () => {
    assert.equal(precheck(['deny to=*.example.com']), 'deny to=*.example.com');
    assert.equal(precheck(['deny port=443']), 'deny port=443');
    assert.equal(precheck(['deny from=192.0.2.0/24']), 'deny from=192.0.2.0/24');
    assert.equal(precheck(['deny any']), 'deny any');
    assert.equal(precheck(['deny to=10.0.0.0/8', 'deny to=www.example.com']), 'deny to=www.example.com');
  });

  test('undefined when the address decides, or an allow might come first', () => {
    assert.equal(precheck([]), undefined);
    assert.equal(precheck(['deny to=10.0.0.0/8']), undefined);
    assert.equal(precheck(['deny to=other.example']), undefined);
    assert.equal(precheck(['allow to=10.0.0.0/8', 'deny any']), undefined);
    assert.equal(precheck(['allow port=443', 'deny to=*.example.com']), undefined);
  });

  test('UDP ASSOCIATE: no destination yet, so only rules without to= and port= decide', () => {
    const associate: Partial<RequestQuery> = { command: 'udp', destName: undefined, port: undefined };
    assert.equal(precheck(['deny cmd=udp'], associate), 'deny cmd=udp');
    assert.equal(precheck(['deny cmd=udp port=53'], associate), undefined);
    assert.equal(precheck(['deny to=*.example.com cmd=udp'], associate), undefined);
    assert.equal(precheck(['deny cmd=udp'], { ...associate, command: 'connect' }), undefined);
    assert.equal(precheck(['allow user=alice cmd=udp', 'deny cmd=udp'], { ...associate, user: 'alice' }), undefined);
    assert.equal(precheck(['allow user=alice cmd=udp', 'deny cmd=udp'], { ...associate, user: 'bob' }), 'deny cmd=udp');
  });
});

describe("this host's own addresses", () => {
  test('are refused on an exposed listener, in any spelling, and a rule can open them', () => {
    assert.equal(verdictOf([], { destIp: '203.0.113.5' }), THIS_HOST);
    assert.equal(verdictOf([], { destIp: '::ffff:203.0.113.5' }), THIS_HOST);
    assert.equal(verdictOf([], { destIp: '2001:db8:5:0::5' }), THIS_HOST);
    assert.equal(verdictOf([], { destIp: '203.0.113.6' }), ALLOWED);
    assert.equal(verdictOf(['allow to=203.0.113.5 port=443'], { destIp: '203.0.113.5' }), 'allow to=203.0.113.5 port=443');
    assert.equal(verdictOf([], { destIp: '203.0.113.5' }, false), ALLOWED);
  });

  test('are read again once 10 s have passed, not before', () => {
    let now = 0;
    let addresses = ['198.51.100.1'];
    const host = new HostAddresses(() => interfaces(...addresses)(), () => now);
    const policy = Policy.parse([], host);
    const verdict = (destIp: string): string => policy.check({ ...base, destIp }, true).rule;
    assert.equal(verdict('198.51.100.1'), THIS_HOST);
    addresses = ['198.51.100.2'];
    now = 9_999;
    assert.equal(verdict('198.51.100.2'), ALLOWED);
    now = 10_000;
    assert.equal(verdict('198.51.100.2'), THIS_HOST);
    assert.equal(verdict('198.51.100.1'), ALLOWED);
  });
});

describe('summary', () => {
  test('exposed listener', () => {
    assert.deepEqual(Policy.parse(['deny to=*.corp', 'allow loopback port=8080'], thisHost).summary(true), [
      'always deny unspecified (0.0.0.0/8, ::): not a destination',
      'rule 1: deny to=*.corp',
      'rule 2: allow loopback port=8080',
      "then deny loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200) and this host's addresses (127.0.0.1, 203.0.113.5, 2001:db8:5::5): the listener is not loopback-only (--allow a rule to open them)",
      'then allow everything else, private (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7) included (--deny private to refuse it)',
    ]);
  });

  test('loopback-only listener', () => {
    assert.deepEqual(Policy.parse([]).summary(false), [
      'always deny unspecified (0.0.0.0/8, ::): not a destination',
      'then allow everything else: the listener is loopback-only',
    ]);
  });
});
