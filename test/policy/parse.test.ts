/** Rule syntax (../shared/CONTRACT.md, "socx serve — running it for others"): good rules compile to what they
 * say, bad ones are usage errors (exit 2) with one line naming the rule and the bad term. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { exitCodeFor, SocxError } from '../../lib/errors.ts';
import { Policy } from '../../lib/policy/policy.ts';

describe('good rules', () => {
  const good: ReadonlyArray<readonly [string, string]> = [
    ['deny private', 'deny private'],
    ['deny to=private', 'deny to=private'],
    ['allow any', 'allow any'],
    ['  allow   to=10.0.0.0/8\tport=443  ', 'allow to=10.0.0.0/8 port=443'],
    ['allow to=2001:db8::/32 port=1-1024', 'allow to=2001:db8::/32 port=1-1024'],
    ['allow to=::ffff:10.0.0.0/104', 'allow to=::ffff:10.0.0.0/104'],
    ['deny to=example.com', 'deny to=example.com'],
    ['deny to=*.Example.COM.', 'deny to=*.Example.COM.'],
    ['deny to=bücher.de', 'deny to=bücher.de'],
    ['deny to=_sip._tcp.example.com', 'deny to=_sip._tcp.example.com'],
    ['deny from=192.0.2.0/24 cmd=bind', 'deny from=192.0.2.0/24 cmd=bind'],
    ['allow user=alice cmd=udp', 'allow user=alice cmd=udp'],
    ['deny port=0-65535', 'deny port=0-65535'],
    ['deny to=0.0.0.0/0', 'deny to=0.0.0.0/0'],
    ['deny to=::/0', 'deny to=::/0'],
    ['deny Private', 'deny Private'],
  ];
  for (const [rule, written] of good) {
    test(JSON.stringify(rule), () => {
      // The startup lines and the verdicts name the rule as written, whitespace folded.
      assert.equal(Policy.parse([rule]).summary(false)[1], `rule 1: ${written}`);
    });
  }
});

describe('bad rules', () => {
  const sets = 'loopback, private, link-local, unspecified, multicast, any';
  const bad: ReadonlyArray<readonly [string, string]> = [
    ['', 'bad rule "": a rule starts with allow or deny'],
    ['permit any', 'bad rule "permit any": a rule starts with allow or deny'],
    ['Allow any', 'bad rule "Allow any": a rule starts with allow or deny'],
    ['deny', 'bad rule "deny": nothing to match: name at least one of to=, port=, from=, cmd=, user= (or "any")'],
    ['deny dest=10.0.0.0/8', 'bad rule "deny dest=10.0.0.0/8": unknown term "dest=10.0.0.0/8": the keys are to, port, from, cmd, user, via'],
    ['deny to=a.com to=b.com', 'bad rule "deny to=a.com to=b.com": to= given twice: a rule\'s terms must all match, so write two rules'],
    ['deny private loopback', 'bad rule "deny private loopback": to= given twice: a rule\'s terms must all match, so write two rules'],
    ['deny to=', 'bad rule "deny to=": to= needs a value'],
    ['deny port=', 'bad rule "deny port=": port= needs a value'],
    ['deny port=65536', 'bad rule "deny port=65536": port=65536: expected a port (0-65535) or a range N-M'],
    ['deny port=100-10', 'bad rule "deny port=100-10": port=100-10: expected a port (0-65535) or a range N-M'],
    ['deny port=http', 'bad rule "deny port=http": port=http: expected a port (0-65535) or a range N-M'],
    ['deny port=-1', 'bad rule "deny port=-1": port=-1: expected a port (0-65535) or a range N-M'],
    ['deny cmd=CONNECT', 'bad rule "deny cmd=CONNECT": cmd=CONNECT: expected connect, bind or udp'],
    ['deny cmd=constructor', 'bad rule "deny cmd=constructor": cmd=constructor: expected connect, bind or udp'],
    ['deny to=10.0.0.1/8', 'bad rule "deny to=10.0.0.1/8": to=10.0.0.1/8: 10.0.0.1/8 has bits set after the /8 prefix'],
    ['deny to=fe80::1/10', 'bad rule "deny to=fe80::1/10": to=fe80::1/10: fe80::1/10 has bits set after the /10 prefix'],
    ['deny to=10.0.0.0/33', 'bad rule "deny to=10.0.0.0/33": to=10.0.0.0/33: the prefix length in 10.0.0.0/33 must be 0-32'],
    ['deny to=::/129', 'bad rule "deny to=::/129": to=::/129: the prefix length in ::/129 must be 0-128'],
    ['deny to=10.0.0.0/', 'bad rule "deny to=10.0.0.0/": to=10.0.0.0/: the prefix length in 10.0.0.0/ must be 0-32'],
    ['deny to=10.0.0/8', 'bad rule "deny to=10.0.0/8": to=10.0.0/8: write IPv4 addresses as a.b.c.d (this is 10.0.0.0)'],
    ['deny to=127.1', 'bad rule "deny to=127.1": to=127.1: write IPv4 addresses as a.b.c.d (this is 127.0.0.1)'],
    ['deny to=2130706433', 'bad rule "deny to=2130706433": to=2130706433: write IPv4 addresses as a.b.c.d (this is 127.0.0.1)'],
    ['deny to=fe80::1%eth0', 'bad rule "deny to=fe80::1%eth0": to=fe80::1%eth0: fe80::1%eth0: an address in a rule takes no zone (%…)'],
    ['deny to=::ffff:1.2.3.4/80', 'bad rule "deny to=::ffff:1.2.3.4/80": to=::ffff:1.2.3.4/80: ::ffff:1.2.3.4/80 mixes IPv4-mapped and other IPv6 addresses: write an IPv4 and an IPv6 rule'],
    ['deny to=1:2:3', `bad rule "deny to=1:2:3": to=1:2:3: expected a CIDR, a host name, *.suffix or a set (${sets})`],
    ['deny to=*', `bad rule "deny to=*": to=*: expected a CIDR, a host name, *.suffix or a set (${sets})`],
    ['deny to=*.', `bad rule "deny to=*.": to=*.: expected a CIDR, a host name, *.suffix or a set (${sets})`],
    ['deny to=a.*.com', `bad rule "deny to=a.*.com": to=a.*.com: expected a CIDR, a host name, *.suffix or a set (${sets})`],
    ['deny to=-a.com', `bad rule "deny to=-a.com": to=-a.com: expected a CIDR, a host name, *.suffix or a set (${sets})`],
    ['deny to=a..com', `bad rule "deny to=a..com": to=a..com: expected a CIDR, a host name, *.suffix or a set (${sets})`],
    ['deny to=10.0.0.256', `bad rule "deny to=10.0.0.256": to=10.0.0.256: expected a CIDR, a host name, *.suffix or a set (${sets})`],
    ['deny from=example.com', `bad rule "deny from=example.com": from=example.com: expected a CIDR or a set (${sets})`],
    ['deny from=10.1/16', 'bad rule "deny from=10.1/16": from=10.1/16: write IPv4 addresses as a.b.c.d (this is 10.0.0.1)'],
    // Whatever the operator's text holds, the message stays one printable line.
    ['deny to=a\x1b[31m.com', 'bad rule "deny to=a\\u001b[31m.com": control characters are not allowed in a rule'],
    ['deny user=eve\x9b2J', 'bad rule "deny user=eve\\u009b2J": control characters are not allowed in a rule'],
    ['deny user=\x00', 'bad rule "deny user=\\u0000": control characters are not allowed in a rule'],
    ['deny\nto=bad..name', `bad rule "deny to=bad..name": to=bad..name: expected a CIDR, a host name, *.suffix or a set (${sets})`],
  ];
  for (const [rule, message] of bad) {
    test(JSON.stringify(rule), () => {
      assert.throws(() => Policy.parse(['allow any', rule]), (error: unknown) => {
        assert.ok(error instanceof SocxError);
        assert.equal(error.message, message);
        assert.equal(exitCodeFor(error), 2);
        return true;
      });
    });
  }
});
