// --proxy-protocol and --proxy-protocol-from from the command line and the config file: no default sources
// (a usage error), bad CIDRs named, the per-listener key, and a PROXY listener counted as exposed.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { socxSource, tempFiles } from './cli.ts';

const files = tempFiles();
after(() => files.remove());

const check = (...args: string[]): ReturnType<typeof socxSource> => socxSource(['serve', '--check-config', ...args]);

describe('serve --proxy-protocol', () => {
  test('needs --proxy-protocol-from: no balancer is trusted by default', () => {
    const r = check('--proxy-protocol', '--allow-open-proxy');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'socx: --proxy-protocol on 127.0.0.1:1080 needs --proxy-protocol-from CIDR (repeatable): the load balancers\' addresses, the only peers whose PROXY header is believed\n');
  });

  test('--proxy-protocol-from without a PROXY listener is a mistake', () => {
    const r = check('--proxy-protocol-from', '10.0.0.0/8');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^socx: --proxy-protocol-from is given but no listener takes the PROXY protocol \(add --proxy-protocol\)\n$/);
  });

  test('a bad CIDR is named', () => {
    for (const [text, why] of [['10.0.0.1/8', '10.0.0.1/8 has bits set after the /8 prefix'], ['balancer', 'expected a CIDR or an IP address, e.g. 10.0.0.0/24 or 127.0.0.1'], ['10.0.0.0/33', 'the prefix length in 10.0.0.0/33 must be 0-32']] as const) {
      const r = check('--proxy-protocol', '--allow-open-proxy', '--proxy-protocol-from', '127.0.0.1', '--proxy-protocol-from', text);
      assert.equal(r.code, 2, text);
      assert.equal(r.stderr, `socx: bad --proxy-protocol-from "${text}": ${why}\n`);
    }
  });

  test('a CIDR of every address (/0) is taken, with a warning that anyone can then name any client', () => {
    for (const text of ['0.0.0.0/0', '::/0']) {
      const r = check('--proxy-protocol', '--auth', 'alice:secret', '--proxy-protocol-from', text);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, `socx: warning: --proxy-protocol-from ${text} believes a PROXY header from anyone: any client can name itself any address, and so pass the client rules and per-IP limits, and be logged as someone else (give the balancers' addresses)\n`);
    }
    assert.equal(check('--proxy-protocol', '--auth', 'alice:secret', '--proxy-protocol-from', '10.0.0.0/8').stderr, '');
  });

  test('a PROXY listener takes clients from anywhere: without users it is an open proxy, even on loopback', () => {
    const r = check('--proxy-protocol', '--proxy-protocol-from', '127.0.0.1');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing to run an open proxy on 127\.0\.0\.1:1080/);
    const ok = check('--proxy-protocol', '--proxy-protocol-from', '127.0.0.1', '--proxy-protocol-from', '10.0.0.0/8', '--auth', 'alice:secret');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^proxy-protocol: true\nproxy-protocol-from:\n {2}- 127\.0\.0\.1\n {2}- 10\.0\.0\.0\/8\n/m);
  });

  test('per listener in the config file, with the sources as a list', () => {
    const config = files.write('pp.yaml', [
      'users:',
      '  alice: "s3cret"',
      'proxy-protocol-from: [10.0.0.0/8, "::1"]',
      'listeners:',
      '  - address: "127.0.0.1:1080"',
      '    proxy-protocol: true',
      '  - "127.0.0.1:1081"',
      '',
    ].join('\n'));
    const r = check('--config', config);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^listeners:\n {2}- address: 127\.0\.0\.1:1080\n {4}proxy-protocol: true\n {2}- 127\.0\.0\.1:1081\n/m);
    const bad = files.write('pp-bad.yaml', 'listeners:\n  - address: "127.0.0.1:0"\n    proxy-protocol: yes please\n');
    const refused = check('--config', bad);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /line 3: "proxy-protocol" is true or false\n$/);
  });
});
