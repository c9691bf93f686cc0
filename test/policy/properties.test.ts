/** Property tests (fast-check) for the policy: a CIDR matches exactly the addresses that share its prefix
 * (BigInt bit strings as the oracle), every spelling of an address gets the same verdict, normalisation is
 * idempotent, and precheck never refuses what check would allow. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesToIpv6 } from '../../lib/codec/ip.ts';
import { normaliseNumericHost } from '../../lib/policy/host-name.ts';
import { Policy, type PolicyQuery } from '../../lib/policy/policy.ts';

const numRuns = 1000;

const base: PolicyQuery = { clientIp: '192.0.2.10', destIp: '198.51.100.7', destName: undefined, port: 443, command: 'connect', user: undefined };

const v4Text = (n: number): string => `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
const v6Text = (n: bigint): string => {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number((n >> BigInt(8 * (15 - i))) & 0xffn);
  return bytesToIpv6(bytes, 0);
};

const v4 = fc.nat({ max: 0xffffffff });
// Outside ::/96 and ::ffff:0:0/96, which are read as IPv4 (tested below).
const v6 = fc.bigInt({ min: 1n << 96n, max: (1n << 128n) - 1n }).filter((n) => n >> 32n !== 0xffffn);

function prefixOf(n: bigint, bits: number, length: number): bigint {
  return n >> BigInt(bits - length);
}

function denied(rule: string, destIp: string): boolean {
  return Policy.parse([rule]).check({ ...base, destIp }, false).rule === rule;
}

describe('a CIDR matches exactly the addresses with its prefix', () => {
  test('IPv4', () => {
    fc.assert(fc.property(v4, v4, fc.integer({ min: 0, max: 32 }), (network, address, length) => {
      const masked = length === 0 ? 0 : Number(prefixOf(BigInt(network), 32, length) << BigInt(32 - length));
      const rule = `deny to=${v4Text(masked)}/${length}`;
      // Near misses too: the address with the network's prefix and random host bits.
      const near = length === 32 ? masked : (masked | (address & ((2 ** (32 - length)) - 1))) >>> 0;
      for (const candidate of [address, near]) {
        if (candidate >>> 24 === 0) continue; // unspecified: refused before any rule
        const expected = prefixOf(BigInt(candidate), 32, length) === prefixOf(BigInt(masked), 32, length);
        assert.equal(denied(rule, v4Text(candidate)), expected, `${v4Text(candidate)} in ${rule}`);
      }
    }), { numRuns });
  });

  test('IPv6', () => {
    fc.assert(fc.property(v6, v6, fc.integer({ min: 0, max: 128 }), (network, address, length) => {
      const masked = length === 0 ? 0n : prefixOf(network, 128, length) << BigInt(128 - length);
      const rule = `deny to=${v6Text(masked)}/${length}`;
      if (masked >> 32n === 0xffffn || masked >> 32n === 0n) return; // an IPv4-mapped network: another family
      const hostBits = (1n << BigInt(128 - length)) - 1n;
      const near = masked | (address & hostBits);
      for (const candidate of [address, near]) {
        if (candidate >> 96n === 0n || candidate >> 32n === 0xffffn) continue;
        const expected = prefixOf(candidate, 128, length) === prefixOf(masked, 128, length);
        assert.equal(denied(rule, v6Text(candidate)), expected, `${v6Text(candidate)} in ${rule}`);
      }
    }), { numRuns });
  });
});

describe('every spelling of an address gets the same verdict', () => {
  const policy = Policy.parse(['deny to=198.51.100.0/24', 'allow to=10.0.0.0/8 port=443', 'deny private', 'deny to=2001:db8::/32', 'allow to=fe80::/16']);
  const verdict = (destIp: string, exposed: boolean) => policy.check({ ...base, destIp }, exposed).rule;
  const interesting = fc.oneof(v4, fc.constantFrom(0x7f000001, 0xa9fea9fe, 0x0a000001, 0xc6336407, 0xc0a80101, 0));

  test('IPv4: dotted, IPv4-mapped (dotted and hex), IPv4-compatible, inet_aton forms', () => {
    fc.assert(fc.property(interesting, fc.boolean(), (n, exposed) => {
      const dotted = v4Text(n);
      const hex = `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
      const spellings = [`::ffff:${dotted}`, `::FFFF:${hex.toUpperCase()}`, `0:0:0:0:0:ffff:${hex}`, String(n), `0x${n.toString(16)}`];
      if (n >>> 0 >= 2) spellings.push(`::${dotted}`, `::${hex}`);
      for (const spelling of spellings) assert.equal(verdict(spelling, exposed), verdict(dotted, exposed), spelling);
    }), { numRuns });
  });

  test('IPv6: compressed, expanded, upper case, leading zeros, with a zone', () => {
    fc.assert(fc.property(v6, fc.boolean(), (n, exposed) => {
      const canonical = v6Text(n);
      const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(16 * (7 - i))) & 0xffffn));
      const spellings = [
        groups.map((g) => g.toString(16)).join(':'),
        groups.map((g) => g.toString(16).padStart(4, '0').toUpperCase()).join(':'),
        `${canonical}%eth0`,
      ];
      for (const spelling of spellings) assert.equal(verdict(spelling, exposed), verdict(canonical, exposed), spelling);
    }), { numRuns });
  });
});

describe('normaliseNumericHost', () => {
  test('is idempotent, and what it returns reads as the same address', () => {
    const numericish = fc.array(fc.constantFrom(...'0123456789abcdefxX.:%'.split('')), { minLength: 1, maxLength: 20 }).map((c) => c.join(''));
    fc.assert(fc.property(fc.oneof(numericish, fc.string(), v4.map(String)), (text) => {
      const once = normaliseNumericHost(text);
      if (once === undefined) return;
      assert.equal(normaliseNumericHost(once), once);
      const policy = Policy.parse(['deny loopback', 'deny private', 'deny link-local', 'deny multicast']);
      const q = (destIp: string) => policy.check({ ...base, destIp }, true).rule;
      assert.equal(q(once), q(text), text);
    }), { numRuns });
  });
});

describe('precheck is sound', () => {
  const term = fc.oneof(
    fc.constantFrom('to=private', 'to=loopback', 'to=10.0.0.0/8', 'to=2001:db8::/32', 'to=*.example.com', 'to=a.example.com', 'to=any'),
    fc.constantFrom('port=443', 'port=1-1024', 'from=192.0.2.0/24', 'from=private', 'cmd=connect', 'cmd=udp', 'cmd=bind', 'user=alice'),
  );
  const rule = fc.tuple(fc.constantFrom('allow', 'deny'), fc.uniqueArray(term, { minLength: 1, maxLength: 3, selector: (t) => t.split('=')[0] }))
    .map(([action, terms]) => `${action} ${terms.join(' ')}`);
  const query = fc.record({
    clientIp: fc.constantFrom('192.0.2.1', '10.1.1.1', '203.0.113.5'),
    destIp: fc.constantFrom('10.2.3.4', '127.0.0.1', '2001:db8::1', '198.51.100.7', '169.254.169.254'),
    destName: fc.constantFrom(undefined, 'a.example.com', 'b.example.com', 'other.test'),
    port: fc.constantFrom(22, 443, 8080),
    command: fc.constantFrom('connect', 'bind', 'udp') as fc.Arbitrary<PolicyQuery['command']>,
    user: fc.constantFrom(undefined, 'alice', 'bob'),
  });

  test('when precheck refuses, check refuses every address the request could reach', () => {
    fc.assert(fc.property(fc.array(rule, { maxLength: 6 }), query, fc.boolean(), fc.boolean(), (rules, q, exposed, knownTarget) => {
      const policy = Policy.parse(rules);
      const early = policy.precheck({ ...q, destName: knownTarget ? q.destName : undefined, port: knownTarget ? q.port : undefined });
      if (early === undefined) return;
      assert.equal(early.allowed, false);
      assert.equal(policy.check(q, exposed).allowed, false, `${rules.join(' | ')} on ${JSON.stringify(q)}`);
    }), { numRuns });
  });
});
