/** `via=` on allow rules (serve --upstream routing) and Policy.checkName, the check of a name an upstream
 * will resolve. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Policy, type RequestQuery } from '../../lib/policy/policy.ts';
import { SocxError } from '../../lib/errors.ts';

const request: RequestQuery & { destName: string } = { clientIp: '192.0.2.10', destName: 'db.corp.example', port: 5432, command: 'connect', user: undefined };

describe('via=', () => {
  test('an allow rule carries its route in the verdict; the rule text keeps it', () => {
    const policy = Policy.parse(['allow to=*.corp.example via=corp', 'allow to=10.0.0.0/8 via=direct', 'allow port=443']);
    const check = (destIp: string, destName?: string) => policy.check({ ...request, destIp, destName, port: destName ? 5432 : 443 }, false);
    assert.deepEqual(check('198.51.100.1', 'db.corp.example'), { allowed: true, rule: 'allow to=*.corp.example via=corp', via: 'corp' });
    assert.deepEqual(check('10.1.2.3', undefined), { allowed: true, rule: 'allow to=10.0.0.0/8 via=direct', via: 'direct' });
    assert.deepEqual(check('198.51.100.1', undefined), { allowed: true, rule: 'allow port=443' });
    assert.deepEqual([...policy.routeNames()], ['corp']);
  });

  for (const [rule, message] of [
    ['deny to=private via=corp', 'bad rule "deny to=private via=corp": via=corp: only allow rules choose a route'],
    ['allow via=corp', 'bad rule "allow via=corp": nothing to match: name at least one of to=, port=, from=, cmd=, user= (or "any") beside via='],
    ['allow any via=Corp!', 'bad rule "allow any via=Corp!": via=Corp!: expected direct or the name of an upstream (serve --upstream NAME=URL)'],
    ['allow any via=a via=b', 'bad rule "allow any via=a via=b": via= given twice: a rule\'s terms must all match, so write two rules'],
  ] as const) {
    test(`"${rule}" is refused`, () => {
      assert.throws(() => Policy.parse([rule]), (error: unknown) => error instanceof SocxError && error.code === 'usage' && error.message === message);
    });
  }
});

describe('checkName', () => {
  const checkName = (rules: readonly string[], exposed = false, query: Partial<RequestQuery> = {}) => Policy.parse(rules).checkName({ ...request, ...query }, exposed)?.rule;

  test('rules on names, ports, clients and users decide on the name alone', () => {
    assert.equal(checkName(['deny to=*.corp.example']), 'deny to=*.corp.example');
    assert.equal(checkName(['allow to=db.corp.example via=corp']), 'allow to=db.corp.example via=corp');
    assert.equal(checkName(['deny to=other.example', 'allow port=5432']), 'allow port=5432');
    assert.equal(checkName(['allow any']), 'allow any');
    assert.equal(checkName(['deny from=192.0.2.0/24']), 'deny from=192.0.2.0/24');
  });

  test('no rule matches: allowed on a loopback listener, undecided on an exposed one (its defaults need the address)', () => {
    assert.equal(checkName(['deny to=other.example']), 'default: allow');
    assert.equal(checkName(['deny to=other.example'], true), undefined);
    assert.equal(checkName(['allow to=*.example'], true), 'allow to=*.example');
  });

  test('undecided when the first rule that may match needs the address', () => {
    assert.equal(checkName(['deny private']), undefined);
    assert.equal(checkName(['allow to=10.0.0.0/8 via=direct', 'allow to=*.corp.example via=corp']), undefined);
    assert.equal(checkName(['allow to=*.corp.example via=corp', 'deny private']), 'allow to=*.corp.example via=corp');
    assert.equal(checkName(['deny private port=22']), 'default: allow', 'a rule that cannot match this port does not need the address');
  });
});
