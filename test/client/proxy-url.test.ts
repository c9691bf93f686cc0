/** Table tests for the pure parsers: proxy URLs, the proxy environment, credentials, targets, listen
 * addresses, loopback detection and users files. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { describeProxy, parseEnvironmentProxy, parseProxyUrl, proxyFromEnvironment, withCredentials, parseTarget, redact, type ProxyConfig } from '../../lib/client/proxy-url.ts';
import { SocxError, exitCodeFor } from '../../lib/errors.ts';
import { isLoopback, parseListenAddress } from '../../lib/server/listen-address.ts';

function assertUsage(fn: () => unknown, what: string): SocxError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof SocxError, `${what}: expected SocxError 'usage', got ${caught === undefined ? 'no error' : String(caught)}`);
  assert.equal(caught.code, 'usage', what);
  assert.equal(exitCodeFor(caught), 2, what);
  assert.ok(!caught.message.includes('\n'), `${what}: one line`);
  return caught;
}

const http = (tls: boolean, host: string, port: number, username?: string, password?: string): ProxyConfig =>
  ({ kind: 'http', tls, host, port, username, password });

const proxy = (version: 4 | 5, remoteDns: boolean, host: string, port: number, username?: string, password?: string): ProxyConfig =>
  ({ kind: 'socks', version, remoteDns, host, port, username, password });

describe('parseProxyUrl', () => {
  const valid: Array<[string, ProxyConfig | undefined]> = [
    ['socks5://127.0.0.1:1080', proxy(5, false, '127.0.0.1', 1080)],
    ['socks5h://proxy.example:9050', proxy(5, true, 'proxy.example', 9050)],
    ['socks4://10.0.0.1:1081', proxy(4, false, '10.0.0.1', 1081)],
    ['socks4a://gw:1', proxy(4, true, 'gw', 1)],
    ['SOCKS5H://Gw:65535', proxy(5, true, 'Gw', 65535)],
    ['proxy.example:1081', proxy(5, true, 'proxy.example', 1081)],
    ['proxy.example', proxy(5, true, 'proxy.example', 1080)],
    ['socks5://host', proxy(5, false, 'host', 1080)],
    ['socks5://host:1/', proxy(5, false, 'host', 1)],
    ['socks5://[::1]:1080', proxy(5, false, '::1', 1080)],
    ['socks5://[::1]', proxy(5, false, '::1', 1080)],
    ['[::1]:9050', proxy(5, true, '::1', 9050)],
    ['socks5://[2001:db8::1]:1', proxy(5, false, '2001:db8::1', 1)],
    ['socks5://user:pass@host:1', proxy(5, false, 'host', 1, 'user', 'pass')],
    ['socks5://us%40er:p%3Ass@host:1', proxy(5, false, 'host', 1, 'us@er', 'p:ss')],
    ['socks5://%C3%A9t%C3%A9:%2F%25@host:1', proxy(5, false, 'host', 1, 'été', '/%')],
    ['socks4://ident@host:1', proxy(4, false, 'host', 1, 'ident', undefined)],
    ['alice:secret@host:2', proxy(5, true, 'host', 2, 'alice', 'secret')],
    ['http://proxy.example:3128', http(false, 'proxy.example', 3128)],
    ['HTTP://Proxy.Example', http(false, 'Proxy.Example', 1080)],
    ['http://proxy:80', http(false, 'proxy', 80)],
    ['https://proxy', http(true, 'proxy', 443)],
    ['https://proxy:443', http(true, 'proxy', 443)],
    ['https://[::1]:8443', http(true, '::1', 8443)],
    ['http://alice@proxy:1', http(false, 'proxy', 1, 'alice')],
    ['http://alice:@proxy:1', http(false, 'proxy', 1, 'alice')],
    ['http://al%3Aice:pw@proxy:1', undefined],
    ['http://alice:p%40ss%3Aw@proxy:1', http(false, 'proxy', 1, 'alice', 'p@ss:w')],
  ];
  for (const [text, expected] of valid) {
    if (expected === undefined) test(`rejects ${text}`, () => { assertUsage(() => parseProxyUrl(text), text); });
    else test(`${text}`, () => assert.deepEqual({ ...parseProxyUrl(text) }, expected));
  }

  test('a bare host:port means socks5h:// on the command line, http:// where curl reads it', () => {
    assert.deepEqual({ ...parseProxyUrl('gw:3128', 'http') }, http(false, 'gw', 3128));
    assert.deepEqual({ ...parseProxyUrl('gw:3128') }, proxy(5, true, 'gw', 3128));
  });

  test('describeProxy names the scheme and address, never the credentials', () => {
    for (const [text, shown] of [['http://u:secret@p:1', 'http://p:1'], ['https://p', 'https://p:443'], ['socks4a://id@[::1]:2', 'socks4a://[::1]:2']] as const) {
      assert.equal(describeProxy(parseProxyUrl(text)), shown);
    }
  });

  const invalid: Array<[string, string]> = [
    ['ftp://host:21', 'a scheme that is no proxy'],
    ['http://:pw@host:1', 'an HTTP password without a user'],
    ['socks6://host', 'an unknown scheme'],
    ['socks5://', 'no host'],
    ['socks5://:1080', 'an empty host with a port'],
    ['socks5://host:0', 'port 0'],
    ['socks5://host:65536', 'port 65536'],
    ['socks5://host:x', 'a non-numeric port'],
    ['socks5://host:1080/path', 'a path'],
    ['socks5://host:1080?q=1', 'a query'],
    ['socks5://host:1080#f', 'a fragment'],
    ['socks5://[::1', 'an unclosed bracket'],
    ['', 'an empty string'],
  ];
  for (const [text, what] of invalid) {
    test(`rejects ${what}: ${JSON.stringify(text)}`, () => { assertUsage(() => parseProxyUrl(text), text); });
  }

  test('malformed percent-encoding in the credentials is a usage error, not a URIError', () => {
    for (const text of ['socks5://us%zzer:p@host:1', 'socks5://user:100%@host:1']) assertUsage(() => parseProxyUrl(text), text);
  });

  test('error messages never show the password, with or without a scheme', () => {
    for (const text of ['ftp://alice:s3cr3t@host:1', 'http://alice:s3cr3t@host:0', 'socks5://alice:s3cr3t@host:0', 'socks5://alice:s3cr3t@host:1/path', 'alice:s3cr3t@host:0', 'alice:s3cr3t@host:1/path',
      // A password holding a character that ends the authority, or an unencoded "@": WHATWG splits at the last "@".
      'socks5h://alice:s3/cr3t@host:1', 'socks5h://alice:s3?cr3t@host:1:2', 'socks5h://alice:x@s3cr3t@host:1:2', 'socks5h://alice:s3cr3t\n@host:0']) {
      const error = assertUsage(() => parseProxyUrl(text), text);
      assert.ok(!error.message.includes('s3cr3t'), `${text}: message shows the password: ${error.message}`);
    }
  });

  test('redact hides only the password', () => {
    assert.equal(redact('socks5://alice:s3cr3t@host:1'), 'socks5://alice:***@host:1');
    assert.equal(redact('socks5://alice@host:1'), 'socks5://alice@host:1');
    assert.equal(redact('socks5://host:1'), 'socks5://host:1');
    assert.equal(redact('socks5://alice:x@s3cr3t@host:1'), 'socks5://alice:***@host:1');
    assert.equal(redact('socks5://alice:s3/cr3t@host:1'), 'socks5://alice:***@host:1');
    assert.equal(redact('alice:s3cr3t@host:1'), 'alice:***@host:1');
  });
});

describe('proxyFromEnvironment', () => {
  // SOCX_PROXY, then ALL_PROXY (socx always read it), then the https variables.
  const cases: Array<[string, NodeJS.ProcessEnv, string | undefined, string | undefined]> = [
    ['nothing set', {}, undefined, undefined],
    ['SOCX_PROXY', { SOCX_PROXY: 'socks5://a:1' }, 'SOCX_PROXY', 'socks5://a:1'],
    ['SOCX_PROXY first', { SOCX_PROXY: 'socks5://a:1', https_proxy: 'http://h:1', ALL_PROXY: 'socks5://b:2', all_proxy: 'socks5://c:3' }, 'SOCX_PROXY', 'socks5://a:1'],
    ['ALL_PROXY with a socks URL', { ALL_PROXY: 'socks5h://b:2' }, 'ALL_PROXY', 'socks5h://b:2'],
    ['all_proxy with a socks URL', { all_proxy: 'socks4://c:3' }, 'all_proxy', 'socks4://c:3'],
    ['ALL_PROXY before all_proxy', { ALL_PROXY: 'socks5://b:2', all_proxy: 'socks5://c:3' }, 'ALL_PROXY', 'socks5://b:2'],
    ['an HTTP ALL_PROXY is taken, not skipped', { ALL_PROXY: 'http://b:8080', all_proxy: '' }, 'ALL_PROXY', 'http://b:8080'],
    ['all_proxy before https_proxy', { all_proxy: 'socks5://c:3', https_proxy: 'http://h:3128' }, 'all_proxy', 'socks5://c:3'],
    ['HTTPS_PROXY before https_proxy', { HTTPS_PROXY: 'http://H:1', https_proxy: 'http://h:2' }, 'HTTPS_PROXY', 'http://H:1'],
    ['ALL_PROXY before HTTPS_PROXY, as socx always read it', { HTTPS_PROXY: 'http://H:1', ALL_PROXY: 'socks5://b:2' }, 'ALL_PROXY', 'socks5://b:2'],
    ['https_proxy alone', { https_proxy: 'http://h:2' }, 'https_proxy', 'http://h:2'],
    ['http_proxy is for plain HTTP requests, not tunnels', { http_proxy: 'http://p:1', HTTP_PROXY: 'http://p:2' }, undefined, undefined],
    ['empty SOCX_PROXY', { SOCX_PROXY: '', ALL_PROXY: 'socks5://b:2' }, 'ALL_PROXY', 'socks5://b:2'],
  ];
  for (const [what, env, variable, url] of cases) {
    test(what, () => assert.deepEqual(proxyFromEnvironment(env), variable === undefined ? undefined : { variable, url }));
  }

  test("no scheme: socks5h:// in SOCX_PROXY, http:// in curl's variables", () => {
    assert.deepEqual({ ...parseEnvironmentProxy({ variable: 'SOCX_PROXY', url: 'a:1' }) }, proxy(5, true, 'a', 1));
    assert.deepEqual({ ...parseEnvironmentProxy({ variable: 'ALL_PROXY', url: 'b:2' }) }, http(false, 'b', 2));
    assert.deepEqual({ ...parseEnvironmentProxy({ variable: 'https_proxy', url: 'c' }) }, http(false, 'c', 1080));
  });

  test('a bad URL in a variable names the variable, never the password', () => {
    const error = assertUsage(() => parseEnvironmentProxy({ variable: 'ALL_PROXY', url: 'gopher://u:s3cr3t@b:2' }), 'gopher');
    assert.match(error.message, /^\$ALL_PROXY: unsupported proxy scheme "gopher:"/);
    assert.ok(!error.message.includes('s3cr3t'), error.message);
  });
});

describe('withCredentials', () => {
  const base = parseProxyUrl('socks5://old:pw@host:1');
  test('no -U keeps the URL credentials', () => assert.equal(withCredentials(base, undefined), base));
  test('user:pass overrides', () => assert.deepEqual({ ...withCredentials(base, 'new:word') }, proxy(5, false, 'host', 1, 'new', 'word')));
  test('the password is everything after the first colon', () => assert.equal(withCredentials(base, 'u:a:b:c').password, 'a:b:c'));
  test('SOCKS5: an empty password is a usage error, in -U and in the URL (RFC 1929: 1-255 bytes)', () => {
    for (const userPass of ['u', 'u:']) assertUsage(() => withCredentials(base, userPass), userPass);
    for (const text of ['socks5://user@host:1', 'socks5h://user:@host:1', 'socks5://:pw@host:1']) assertUsage(() => parseProxyUrl(text), text);
  });
  test('SOCKS4: a user id alone is fine', () => assert.equal(withCredentials(parseProxyUrl('socks4://host:1'), 'ident').username, 'ident'));
  test('an empty user is a usage error', () => {
    assertUsage(() => withCredentials(base, ':pass'), ':pass');
    assertUsage(() => withCredentials(base, ''), 'empty');
  });
});

describe('parseTarget', () => {
  const valid: Array<[string, string, unknown]> = [
    ['example.com', '80', { type: 'domain', host: 'example.com', port: 80 }],
    ['localhost', '65535', { type: 'domain', host: 'localhost', port: 65535 }],
    ['127.0.0.1', '1', { type: 'ipv4', host: '127.0.0.1', port: 1 }],
    ['::1', '22', { type: 'ipv6', host: '::1', port: 22 }],
    ['[::1]', '22', { type: 'ipv6', host: '::1', port: 22 }],
    ['[2001:db8::7]', '443', { type: 'ipv6', host: '2001:db8::7', port: 443 }],
    ['::ffff:1.2.3.4', '8', { type: 'ipv6', host: '::ffff:1.2.3.4', port: 8 }],
    ['host', '080', { type: 'domain', host: 'host', port: 80 }],
  ];
  for (const [host, port, expected] of valid) test(`${host} ${port}`, () => assert.deepEqual(parseTarget(host, port), expected));

  for (const port of ['0', '65536', 'x', '', '-1', '1.5', ' 80', '1e3']) {
    test(`bad port ${JSON.stringify(port)}`, () => { assertUsage(() => parseTarget('host', port), port); });
  }
  test('port 0 only where allowed', () => assert.deepEqual(parseTarget('host', '0', { allowZero: true }), { type: 'domain', host: 'host', port: 0 }));
  test('a missing host', () => { assertUsage(() => parseTarget('', '80'), 'empty host'); });
  test('a bad IPv6 literal', () => {
    assertUsage(() => parseTarget('[::zz]', '80'), '[::zz]');
    assertUsage(() => parseTarget('a:b', '80'), 'a:b');
  });
  test('a name longer than 255 bytes', () => { assertUsage(() => parseTarget('a'.repeat(256), '80'), '256 bytes'); });
  test('a name of exactly 255 bytes', () => assert.equal(parseTarget('a'.repeat(255), '80').host.length, 255));
});

describe('parseListenAddress', () => {
  const valid: Array<[string, { host: string; port: number }]> = [
    ['1080', { host: '127.0.0.1', port: 1080 }],
    ['0', { host: '127.0.0.1', port: 0 }],
    ['0.0.0.0:1080', { host: '0.0.0.0', port: 1080 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:0', { host: '::1', port: 0 }],
    ['[::]:1080', { host: '::', port: 1080 }],
    ['[::1]', { host: '::1', port: 1080 }],
    ['::1', { host: '::1', port: 1080 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['localhost', { host: 'localhost', port: 1080 }],
    ['0.0.0.0:65535', { host: '0.0.0.0', port: 65535 }],
  ];
  for (const [text, expected] of valid) test(JSON.stringify(text), () => assert.deepEqual(parseListenAddress(text), expected));

  for (const text of ['', ':1080', 'host:', 'host:x', 'host:65536', '65536', '99999', '[zz]:1', '[::1]:', '[::1]:x', '127.0.0.1:-1']) {
    test(`rejects ${JSON.stringify(text)}`, () => { assertUsage(() => parseListenAddress(text), text); });
  }
});

describe('isLoopback', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', 'localhost', '::ffff:127.0.0.1']) {
    test(`${host} is loopback`, () => assert.equal(isLoopback(host), true));
  }
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', '128.0.0.1', '::ffff:10.0.0.1', '::2', 'example.com', 'localhost.example.com', '1.127.0.0']) {
    test(`${host} is not loopback`, () => assert.equal(isLoopback(host), false));
  }
});
