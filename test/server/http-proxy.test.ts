/** The HTTP proxy on the SOCKS port, in process: exact response bytes for CONNECT and each refusal, the
 * record of each request, the head a forwarded request reaches its origin with, message framing both ways,
 * keep-alive across origins, and the deadlines. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fc from 'fast-check';
import type { AddressInfo } from 'node:net';
import type { UpstreamDial } from '../../lib/dial.ts';
import { encodeProxyHeader } from '../../lib/codec/proxy-protocol.ts';
import { SocxError } from '../../lib/errors.ts';
import { AddressSet, parseCidr, type Cidr } from '../../lib/policy/address-set.ts';
import { Policy } from '../../lib/policy/policy.ts';
import { lookupError, type Resolver } from '../../lib/resolver/types.ts';
import { formatJsonRecord } from '../../lib/observe/json-log.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';
import { formatConnectionRecord } from '../../lib/server/log-line.ts';
import type { ServerConfig } from '../../lib/server/types.ts';
import { basicCredentials as basic } from '../../lib/codec/http-basic.ts';
import { answerWith, errorResponse, readResponse } from '../helpers/http.ts';
import { closedPort, startEcho, withRogue, withTimeout, type EchoServer } from '../helpers/net.ts';
import { startSocksServer, type TestServer } from '../helpers/socks.ts';
import { socksUrl, startChained } from '../upstream/helpers.ts';

const T = { timeout: 15_000 };
const CONNECTED = 'HTTP/1.1 200 Connection established\r\n\r\n';
const AUTH_REQUIRED = (text: string): string => errorResponse('407 Proxy Authentication Required', text, 'Proxy-Authenticate: Basic realm="socx"\r\n');

async function withServer(config: Partial<ServerConfig>, body: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await startSocksServer(config);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** Sends `request`, returns everything the proxy sent until it closed. */
async function exchange(server: TestServer, request: string): Promise<string> {
  const c = await server.client();
  c.socket.write(Buffer.from(request, 'latin1'));
  return (await c.end(5000)).toString('latin1');
}

describe('HTTP CONNECT', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(() => echo.close());

  test('CONNECT host:port → "200 Connection established" and nothing else, then bytes both ways (early ones too)', T, async () => {
    await withServer({}, async (server) => {
      const c = await server.client();
      c.socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\n\r\nearly`);
      assert.equal((await c.take(CONNECTED.length + 5)).toString(), `${CONNECTED}early`);
      c.socket.end('late');
      assert.equal((await c.end()).toString(), 'late');
      const record = await server.record(0);
      assert.equal(record.version, 'http');
      assert.equal(record.command, 'connect');
      assert.equal(record.target, `127.0.0.1:${echo.port}`);
      assert.equal(record.outcome, 'ok');
      assert.equal(record.bytesUp, 9);
    });
  });

  test('a name is resolved by the server\'s resolver (localhost)', T, async () => {
    await withServer({}, async (server) => {
      const c = await server.client();
      c.socket.write(`CONNECT localhost:${echo.port} HTTP/1.1\r\n\r\n`);
      assert.equal((await c.take(CONNECTED.length)).toString(), CONNECTED);
    });
  });

  const refusals: Array<{ name: string; config: (closed: number) => Partial<ServerConfig>; response: string; outcome: string }> = [
    { name: 'a rule (deny any) → 403', config: () => ({ policy: Policy.parse(['deny any']) }), response: errorResponse('403 Forbidden', 'connection not allowed by ruleset'), outcome: 'refused-rule' },
    { name: 'connection refused → 502', config: () => ({}), response: errorResponse('502 Bad Gateway', 'connection refused'), outcome: 'upstream-refused' },
    { name: 'connect timeout → 504', config: () => ({ dial: rejecting(new SocxError('timeout', 'connecting timed out')) }), response: errorResponse('504 Gateway Timeout', 'timed out'), outcome: 'timeout' },
    { name: 'host unreachable → 502', config: () => ({ dial: rejecting(Object.assign(new Error('x'), { code: 'EHOSTUNREACH' })) }), response: errorResponse('502 Bad Gateway', 'host unreachable'), outcome: 'upstream-unreachable' },
  ];
  for (const { name, config, response, outcome } of refusals) {
    test(`CONNECT refused by ${name}, then the close`, T, async () => {
      const closed = await closedPort();
      await withServer(config(closed), async (server) => {
        assert.equal(await exchange(server, `CONNECT 127.0.0.1:${closed} HTTP/1.1\r\n\r\n`), response);
        const record = await server.record(0);
        assert.equal(record.outcome, outcome);
        assert.equal(record.version, 'http');
      });
    });
  }

  test('a name that does not resolve → 502; a lookup that runs out of time → 504', T, async () => {
    const resolver: Resolver = {
      lookup: (host, _client, callback) => setImmediate(() => callback(lookupError(host === 'slow.test' ? 'ETIMEOUT' : 'ENOTFOUND', host, 'no'), [])),
    };
    await withServer({ resolver }, async (server) => {
      assert.equal(await exchange(server, 'CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n'), errorResponse('502 Bad Gateway', 'host unreachable'));
      assert.equal(await exchange(server, 'CONNECT slow.test:443 HTTP/1.1\r\n\r\n'), errorResponse('504 Gateway Timeout', 'timed out'));
      assert.equal((await server.record(0)).outcome, 'upstream-unreachable');
      assert.equal((await server.record(1)).outcome, 'timeout');
    });
  });

  test('Proxy-Authorization: none → 407 at once; wrong → 407 after the failed-login delay; right → 200', T, async () => {
    await withServer({ authenticate: usersAuthenticator(new Map([['alice', 's3cret']])) }, async (server) => {
      assert.equal(await exchange(server, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`), AUTH_REQUIRED('proxy authentication required'));
      const twice = `Proxy-Authorization: ${basic('alice', 's3cret')}\r\n`.repeat(2);
      assert.equal(await exchange(server, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n${twice}\r\n`), AUTH_REQUIRED('proxy authentication required'), 'two Proxy-Authorization fields are none');
      const started = performance.now();
      assert.equal(await exchange(server, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nProxy-Authorization: ${basic('alice', 'wrong')}\r\n\r\n`), AUTH_REQUIRED('authentication failed'));
      assert.ok(performance.now() - started >= 90, 'the refusal waited for the failed-login delay');
      const c = await server.client();
      c.socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nProxy-Authorization: ${basic('alice', 's3cret')}\r\n\r\nhi`);
      assert.equal((await c.take(CONNECTED.length + 2)).toString(), `${CONNECTED}hi`);
      const [none, wrong] = [await server.record(0), await server.record(2)];
      assert.equal(none.outcome, 'refused-auth');
      assert.equal(none.user, undefined);
      assert.equal(wrong.outcome, 'refused-auth');
      assert.equal(wrong.user, 'alice');
      assert.doesNotMatch(JSON.stringify(server.records), /wrong|s3cret/);
    });
  });
});

test('user= rules match the user who logged in with Proxy-Authorization; without logins, a name sent there is no user', T, async () => {
  await withServer({ policy: Policy.parse(['allow user=admin', 'deny any']) }, async (server) => {
    assert.equal(await exchange(server, `CONNECT 127.0.0.1:1 HTTP/1.1\r\nProxy-Authorization: ${basic('admin', 'x')}\r\n\r\n`), errorResponse('403 Forbidden', 'connection not allowed by ruleset'));
    const record = await server.record(0);
    assert.equal(record.user, undefined);
    assert.equal(record.rule, 'deny any');
  });
  await withServer({ authenticate: usersAuthenticator(new Map([['alice', 'pw']])), policy: Policy.parse(['deny user=alice']) }, async (server) => {
    assert.equal(await exchange(server, `CONNECT 127.0.0.1:1 HTTP/1.1\r\nProxy-Authorization: ${basic('alice', 'pw')}\r\n\r\n`), errorResponse('403 Forbidden', 'connection not allowed by ruleset'));
    assert.equal((await server.record(0)).rule, 'deny user=alice');
  });
});

describe('malformed requests, bounds and deadlines', () => {
  const bad: Array<[string, string, string]> = [
    ['origin-form (a request for a web server)', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', '400 Bad Request'],
    ['a start line in two parts', 'GET http://x/\r\n\r\n', '400 Bad Request'],
    ['HTTP/2.0', 'GET http://x/ HTTP/2.0\r\n\r\n', '400 Bad Request'],
    ['obs-fold', 'GET http://x/ HTTP/1.1\r\nA: b\r\n c\r\n\r\n', '400 Bad Request'],
    ['Content-Length with Transfer-Encoding', 'POST http://x/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', '400 Bad Request'],
    ['two Content-Lengths', 'POST http://x/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', '400 Bad Request'],
    ['a negative Content-Length', 'POST http://x/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n', '400 Bad Request'],
    ['CONNECT without a port', 'CONNECT example.com HTTP/1.1\r\n\r\n', '400 Bad Request'],
  ];
  for (const [name, request, status] of bad) {
    test(`${name} → ${status}, then the close`, T, async () => {
      await withServer({}, async (server) => {
        assert.equal(await exchange(server, request), errorResponse(status, 'malformed request'));
        assert.equal((await server.record(0)).outcome, 'bad-request');
      });
    });
  }

  test('an https:// URI → 501 (CONNECT is the way to https)', T, async () => {
    await withServer({}, async (server) => {
      assert.equal(await exchange(server, 'GET https://x/ HTTP/1.1\r\n\r\n'), errorResponse('501 Not Implemented', 'only http:// URIs and CONNECT are proxied'));
    });
  });

  test('a head over 16 KiB → 431', T, async () => {
    await withServer({}, async (server) => {
      const c = await server.client();
      c.socket.write(`GET http://x/ HTTP/1.1\r\n${'X-Filler: 0123456789abcdef\r\n'.repeat(700)}`);
      assert.equal((await c.end()).toString(), errorResponse('431 Request Header Fields Too Large', 'request head too large'));
      assert.match((await server.record(0)).result, /^HTTP 431 \(request head longer than 16384 bytes\)$/);
    });
  });

  test('what a malformed head quotes in the log is one word: a client cannot forge the line\'s fields', T, async () => {
    const forged = 'ok up=9.9GiB down=1B 1ms status=200';
    const cases: Array<[string, string]> = [
      [`GET http://x/ HTTP/1.1 ${forged}\r\n\r\n`, 'unsupported HTTP version "HTTP/1.1?ok?up=9"'],
      [`GET  ${forged}\r\n\r\n`, `HTTP start line is not three parts: "GET??${forged.replaceAll(' ', '?')}"`],
      [`GET http://x/ HTTP/1.1\r\nX ${forged}: 1\r\n\r\n`, `bad HTTP header field name: "X?${forged.replaceAll(' ', '?')}"`],
    ];
    await withServer({}, async (server) => {
      for (const [index, [request, quoted]] of cases.entries()) {
        assert.equal(await exchange(server, request), errorResponse('400 Bad Request', 'malformed request'));
        const line = formatConnectionRecord(await server.record(index));
        assert.ok(line.includes(` http - - HTTP 400 (bad HTTP request: ${quoted}) up=0B down=0B `), line);
        assert.equal(line.split(' ').filter((field) => field.startsWith('up=')).length, 1, line);
      }
    });
  });

  test('the handshake deadline covers the head: a trickled head gets 408 and the close', T, async () => {
    await withServer({ handshakeTimeoutMs: 300 }, async (server) => {
      const c = await server.client();
      c.socket.write('GET http://x/ HTTP/1.1\r\nHost: x\r\n');
      assert.equal((await c.end()).toString(), errorResponse('408 Request Timeout', 'request timeout'));
      assert.equal((await server.record(0)).outcome, 'timeout');
    });
  });

  test('--no-http (http: false): an HTTP request is not SOCKS, closed without a reply', T, async () => {
    await withServer({ http: false }, async (server) => {
      assert.equal(await exchange(server, 'CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n'), '');
      assert.equal((await server.record(0)).outcome, 'not-socks');
    });
  });
});

function rejecting(error: unknown): UpstreamDial {
  return async () => { throw error; };
}

describe('plain HTTP forwarding', () => {
  test('the origin gets origin-form, its own Host, no hop-by-hop fields or proxy credentials, a Via; the client gets the response likewise', T, async () => {
    const reply = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n\r\nhi';
    await withRogue(answerWith(reply), async (origin) => {
      await withServer({ authenticate: usersAuthenticator(new Map([['u', 'p']])) }, async (server) => {
        const c = await server.client();
        c.socket.write([
          `GET http://127.0.0.1:${origin.port}/a/b?c=d HTTP/1.1`, 'Host: wrong.test', `Proxy-Authorization: ${basic('u', 'p')}`,
          'Proxy-Connection: keep-alive', 'Connection: X-Private', 'X-Private: secret', 'Keep-Alive: 300', 'TE: trailers',
          'Upgrade: websocket', 'Accept: */*', '', '',
        ].join('\r\n'));
        assert.equal(await readResponse(c), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Kept: yes\r\nVia: 1.1 socx\r\n\r\nhi');
        const peer = await origin.peer(0);
        assert.equal(peer.input.all.toString(), `GET /a/b?c=d HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nAccept: */*\r\nVia: 1.1 socx\r\nConnection: close\r\n\r\n`);
        const record = await server.record(0);
        assert.equal(record.user, 'u');
        assert.deepEqual([record.httpMethod, record.httpStatus, record.method], ['GET', 200, 'userpass']);
        const json = JSON.parse(formatJsonRecord(record)) as Record<string, unknown>;
        assert.deepEqual([json.version, json.command, json.httpMethod, json.httpStatus, json.user], ['http', 'connect', 'GET', 200, 'u']);
        assert.match(formatConnectionRecord(record), / http connect 127\.0\.0\.1:\d+ user="u" ok up=\S+ down=\S+ \S+ http_method=GET status=200$/);
      });
    });
  });

  test('keep-alive: two requests on one connection to two origins, one record each; idle after them, closed without a third', T, async () => {
    const origins = await Promise.all([startWeb('one'), startWeb('two')]);
    try {
      await withServer({ httpIdleTimeoutMs: 300 }, async (server) => {
        const c = await server.client();
        c.socket.write(`GET http://127.0.0.1:${origins[0]?.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.match(await readResponse(c), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\none \/$/);
        c.socket.write(`GET http://localhost:${origins[1]?.port}/x HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.match(await readResponse(c), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\ntwo \/x$/);
        assert.equal((await c.end()).length, 0, 'closed after the idle deadline');
        const [first, second] = [await server.record(0), await server.record(1)];
        assert.equal(first.target, `127.0.0.1:${origins[0]?.port}`);
        assert.equal(second.target, `localhost:${origins[1]?.port}`);
        await server.close();
        assert.equal(server.records.length, 2);
      });
    } finally {
      for (const origin of origins) origin.server.close();
    }
  });

  test('SOCKS bytes after a kept-alive request: a complete 400 at once, not a 408 at the head deadline', T, async () => {
    const origin = await startWeb('one');
    try {
      await withServer({ handshakeTimeoutMs: 60_000, httpIdleTimeoutMs: 60_000 }, async (server) => {
        const c = await server.client();
        c.socket.write(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.match(await readResponse(c), /^HTTP\/1\.1 200 OK\r\n/);
        c.socket.write(Buffer.from('050100', 'hex'));
        const answer = (await withTimeout(c.end(), 5000, 'the 400 before the 60 s deadlines')).toString('latin1');
        assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\n/);
        assert.match((await server.record(1)).result, /^HTTP 400 \(bad HTTP request: the request does not begin with an HTTP method\)$/);
      });
    } finally {
      origin.server.close();
    }
  });

  test('a client that half-closes after its request still gets the whole response', T, async () => {
    const big = 'x'.repeat(1024 * 1024);
    await withRogue(answerWith(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`), async (origin) => {
      await withServer({}, async (server) => {
        const c = await server.client();
        c.socket.end(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n\r\n`);
        const all = (await c.end(10_000)).toString();
        assert.equal(all.length, `HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\nVia: 1.1 socx\r\nConnection: close\r\n\r\n`.length + big.length);
        assert.ok(all.endsWith(big));
        assert.equal((await server.record(0)).bytesDown, all.length);
      });
    });
  });

  test('GET, then CONNECT on the same connection: each record counts its own bytes', T, async () => {
    const web = await startWeb('w');
    const echo = await startEcho();
    try {
      await withServer({}, async (server) => {
        const c = await server.client();
        c.socket.write(`GET http://127.0.0.1:${web.port}/ HTTP/1.1\r\n\r\n`);
        const response = await readResponse(c);
        c.socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`);
        assert.equal((await c.take(CONNECTED.length)).toString(), CONNECTED);
        c.socket.end('abc');
        assert.equal((await c.end()).toString(), 'abc');
        const [get, connect] = [await server.record(0), await server.record(1)];
        assert.equal(get.bytesDown, response.length);
        assert.deepEqual([connect.bytesUp, connect.bytesDown, connect.target], [3, 3, `127.0.0.1:${echo.port}`]);
      });
    } finally {
      web.server.close();
      await echo.close();
    }
  });

  test('shutdown closes a connection waiting for its next request at once, not after the grace period', T, async () => {
    const web = await startWeb('s');
    try {
      const server = await startSocksServer({});
      const c = await server.client();
      c.socket.write(`GET http://127.0.0.1:${web.port}/ HTTP/1.1\r\n\r\n`);
      assert.match(await readResponse(c), /\r\n\r\ns \/$/);
      await server.record(0);
      const started = performance.now();
      await server.server.close(10_000);
      assert.ok(performance.now() - started < 2000, 'the idle connection did not hold the shutdown');
      assert.equal((await c.end()).length, 0);
      assert.equal(server.records.length, 1);
    } finally {
      web.server.close();
    }
  });

  test('pipelined requests in one write are answered in order', T, async () => {
    const web = await startWeb('p');
    try {
      await withServer({}, async (server) => {
        const c = await server.client();
        const url = `http://127.0.0.1:${web.port}`;
        c.socket.write(`GET ${url}/1 HTTP/1.1\r\n\r\nGET ${url}/2 HTTP/1.1\r\n\r\nGET ${url}/3 HTTP/1.1\r\nConnection: close\r\n\r\n`);
        const all = (await c.end()).toString();
        assert.deepEqual([...all.matchAll(/\r\n\r\n(p \/\d)/g)].map((m) => m[1]), ['p /1', 'p /2', 'p /3']);
        assert.match(all, /Connection: close\r\n[^]*p \/3$/);
      });
    } finally {
      web.server.close();
    }
  });

  test('a chunked request body goes on as it is; a chunked response goes back as it is to HTTP/1.1', T, async () => {
    const body = '5\r\nhello\r\n0\r\n\r\n';
    const reply = 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    await withRogue(answerWith(reply, { bodyBytes: body.length }), async (origin) => {
      await withServer({}, async (server) => {
        const c = await server.client();
        c.socket.write(`POST http://127.0.0.1:${origin.port}/up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
        await c.until(() => c.pending.toString().endsWith('0\r\n\r\n'), 5000, 'the chunked response');
        assert.equal(c.pending.toString(), 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nVia: 1.1 socx\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
        const peer = await origin.peer(0);
        assert.equal(peer.input.all.toString(), `POST /up HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nTransfer-Encoding: chunked\r\nVia: 1.1 socx\r\nConnection: close\r\n\r\n${body}`);
      });
    });
  });

  test('to an HTTP/1.0 client a chunked response is unwrapped and ends with the close; no 100 Continue reaches it', T, async () => {
    const reply = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n';
    await withRogue(answerWith(reply), async (origin) => {
      await withServer({}, async (server) => {
        assert.equal(await exchange(server, `GET http://127.0.0.1:${origin.port}/ HTTP/1.0\r\n\r\n`), 'HTTP/1.1 200 OK\r\nVia: 1.1 socx\r\nConnection: close\r\n\r\nabcde');
      });
    });
  });

  test('100 Continue is passed on to an HTTP/1.1 client before the final response', T, async () => {
    const reply = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n';
    await withRogue(answerWith(reply), async (origin) => {
      await withServer({}, async (server) => {
        const c = await server.client();
        c.socket.write(`PUT http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n`);
        await c.until(() => c.pending.toString().endsWith('socx\r\n\r\n') && c.pending.toString().includes('204'), 5000, 'both responses');
        assert.equal(c.pending.toString(), 'HTTP/1.1 100 Continue\r\nVia: 1.1 socx\r\n\r\nHTTP/1.1 204 No Content\r\nVia: 1.1 socx\r\n\r\n');
      });
    });
  });

  test('a response without a length ends with the origin\'s close, and so does the client connection', T, async () => {
    await withRogue(answerWith('HTTP/1.1 200 OK\r\n\r\nuntil the end', { close: true }), async (origin) => {
      await withServer({}, async (server) => {
        assert.equal(await exchange(server, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n\r\n`), 'HTTP/1.1 200 OK\r\nVia: 1.1 socx\r\nConnection: close\r\n\r\nuntil the end');
      });
    });
  });

  test('HEAD: the Content-Length is passed on, no body is waited for, the connection stays open', T, async () => {
    await withRogue(answerWith('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'), async (origin) => {
      await withServer({}, async (server) => {
        const c = await server.client();
        c.socket.write(`HEAD http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n\r\n`);
        await c.until(() => c.pending.toString().endsWith('\r\n\r\n'), 5000, 'the head');
        assert.equal(c.pending.toString(), 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nVia: 1.1 socx\r\n\r\n');
        assert.equal((await server.record(0)).outcome, 'ok');
        assert.equal(c.closed, false);
      });
    });
  });

  test('an origin that closes without a response → 502; one that sends both Content-Length and Transfer-Encoding → 502', T, async () => {
    for (const reply of ['', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n']) {
      await withRogue(answerWith(reply, { close: true }), async (origin) => {
        await withServer({}, async (server) => {
          assert.equal(await exchange(server, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n\r\n`), errorResponse('502 Bad Gateway', 'no valid response from the origin'));
        });
      });
    }
  });

  test('a chunked request body that does not parse → 400; a chunked response that does not parse → the client is cut', T, async () => {
    await withRogue(answerWith('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n'), async (origin) => {
      await withServer({}, async (server) => {
        assert.equal(await exchange(server, `POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`), errorResponse('400 Bad Request', 'malformed request'));
        assert.equal((await server.record(0)).outcome, 'bad-request');
        const cut = await exchange(server, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n\r\n`);
        assert.equal(cut, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVia: 1.1 socx\r\n\r\n');
        assert.match((await server.record(1)).result, /^bad chunked body from the origin/);
      });
    });
  });

  test('random request heads get a status line or the close, never a crash', T, async () => {
    const resolver: Resolver = { lookup: (host, _client, callback) => setImmediate(() => callback(lookupError('ENOTFOUND', host, 'no'), [])) };
    await withServer({ handshakeTimeoutMs: 2000, resolver, policy: Policy.parse(['deny port=1-65535']) }, async (server) => {
      const samples = fc.sample(fc.tuple(
        fc.constantFrom('GET', 'CONNECT', 'POST', 'G', 'get'),
        fc.string({ unit: fc.constantFrom('a', ':', '/', 'h', 't', 'p', '[', ']', '1', '%', ' ', '\r', '\n', '\x00', '\xff', '@', '?'), maxLength: 30 }),
        fc.string({ unit: fc.constantFrom('A', ':', ' ', '\t', '\r', '\n', 'C', 'o', 'n', 't', 'e', '-', 'L', '9', 'x', '\x7f'), maxLength: 60 }),
      ), { numRuns: 60, seed: 14 });
      for (const [method, target, rest] of samples) {
        const reply = await exchange(server, `${method} ${target} HTTP/1.1\r\n${rest}\r\n\r\n`);
        assert.match(reply, /^(HTTP\/1\.1 \d{3} [^\r]*\r\n[^]*|)$/, JSON.stringify([method, target, rest]));
      }
    });
  });

  test('a forwarded request is checked by the same rules (deny port=80-65535 → 403)', T, async () => {
    await withServer({ policy: Policy.parse(['deny port=80-65535']) }, async (server) => {
      assert.equal(await exchange(server, 'GET http://127.0.0.1:8080/ HTTP/1.1\r\n\r\n'), errorResponse('403 Forbidden', 'connection not allowed by ruleset'));
      assert.equal((await server.record(0)).rule, 'deny port=80-65535');
    });
  });
});

/** An origin answering "NAME PATH" with a Content-Length, keep-alive. */
async function startWeb(name: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => res.end(`${name} ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('on the \'data\' path (no shared read buffer)', () => {
  test('CONNECT, then keep-alive forwarding with a chunked body, as on the shared path', T, async () => {
    const echo = await startEcho();
    const web = await startWeb('d');
    const body = '5\r\nhello\r\n0\r\n\r\n';
    try {
      await withRogue(answerWith('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', { bodyBytes: body.length }), async (origin) => {
        await withServer({ sharedReads: false }, async (server) => {
          const tunnel = await server.client();
          tunnel.socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\nping`);
          assert.equal((await tunnel.take(CONNECTED.length + 4)).toString(), `${CONNECTED}ping`);
          const c = await server.client();
          c.socket.write(`POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
          assert.equal(await readResponse(c), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 socx\r\n\r\nok');
          c.socket.write(`GET http://127.0.0.1:${web.port}/next HTTP/1.1\r\n\r\n`);
          assert.match(await readResponse(c), /\r\n\r\nd \/next$/);
        });
      });
    } finally {
      web.server.close();
      await echo.close();
    }
  });
});

describe('through --upstream', () => {
  for (const scheme of ['socks5h', 'http']) {
    test(`HTTP CONNECT and a forwarded GET go on through a ${scheme}:// upstream (another socx serve)`, T, async () => {
      const echo = await startEcho();
      const web = await startWeb('u');
      const upstream = await startSocksServer();
      const server = await startChained([socksUrl(upstream, scheme)]);
      try {
        const tunnel = await server.client();
        tunnel.socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\nvia`);
        assert.equal((await tunnel.take(CONNECTED.length + 3)).toString(), `${CONNECTED}via`);
        const c = await server.client();
        c.socket.write(`GET http://localhost:${web.port}/up HTTP/1.1\r\n\r\n`);
        assert.match(await readResponse(c), /\r\nVia: 1\.1 socx\r\n\r\nu \/up$/);
        const forwarded = await server.record(0);
        assert.equal(forwarded.upstream, 'default');
        assert.equal((await upstream.record(0)).version, scheme === 'http' ? 'http' : 5);
      } finally {
        await server.close();
        await upstream.close();
        web.server.close();
        await echo.close();
      }
    });
  }
});

describe('behind a load balancer (--proxy-protocol)', () => {
  test('a PROXY header, then HTTP: every kept-alive request is recorded for the named client, with the balancer', T, async () => {
    const web = await startWeb('b');
    const header = encodeProxyHeader({ version: 1, command: 'proxy', addresses: { transport: 'tcp', source: { host: '203.0.113.9', port: 5555 }, destination: { host: '127.0.0.1', port: 1080 } } });
    const server = await startSocksServer({ proxyProtocolFrom: AddressSet.of([parseCidr('127.0.0.1/32') as Cidr]), policy: Policy.parse(['allow to=loopback']) }, '127.0.0.1', { proxyProtocol: true });
    try {
      const c = await server.client();
      c.socket.write(Buffer.concat([header, Buffer.from(`GET http://127.0.0.1:${web.port}/1 HTTP/1.1\r\n\r\n`)]));
      assert.match(await readResponse(c), /\r\n\r\nb \/1$/);
      c.socket.write(`GET http://127.0.0.1:${web.port}/2 HTTP/1.1\r\nConnection: close\r\n\r\n`);
      assert.match(await readResponse(c), /\r\n\r\nb \/2$/);
      for (const index of [0, 1]) {
        const record = await server.record(index);
        assert.equal(record.client, '203.0.113.9:5555');
        assert.equal(record.balancer, `127.0.0.1:${c.socket.localPort}`);
        assert.equal(record.version, 'http');
      }
    } finally {
      await server.close();
      web.server.close();
    }
  });
});
