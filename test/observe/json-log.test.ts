/** The JSON log line of each outcome the server can produce, parsed and checked field by field; and a name
 * with a newline and invalid UTF-8 that stays one valid line. */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { toAddress } from '../../lib/codec/address.ts';
import { Command } from '../../lib/codec/constants.ts';
import { encodeRequest } from '../../lib/codec/socks5.ts';
import { formatJsonRecord } from '../../lib/observe/json-log.ts';
import { Policy } from '../../lib/policy/policy.ts';
import { lookupError, type Resolver } from '../../lib/resolver/types.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';
import { formatConnectionRecord } from '../../lib/server/log-line.ts';
import type { ConnectionRecord, ServerConfig } from '../../lib/server/types.ts';
import { closedPort, hex, startEcho, type Collector, type EchoServer } from '../helpers/net.ts';
import { authenticate, greet, request5, startSocksServer, type TestServer } from '../helpers/socks.ts';

const T = { timeout: 15_000 };
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** A resolver that knows no name (no DNS traffic from the tests). */
const noNames: Resolver = { lookup: (host, _client, callback) => process.nextTick(callback, lookupError('ENOTFOUND', host, `${host}: no such name`), []) };
const alice = usersAuthenticator(new Map([['alice', 'wonderland']]));

/** Every field of the JSON line, in order. */
const FIELDS = ['time', 'client', 'balancer', 'listener', 'version', 'method', 'command', 'target', 'user', 'outcome', 'reply', 'rule', 'limit', 'upstream', 'dialed', 'bound', 'peer', 'result', 'bytesUp', 'bytesDown', 'handshakeMs', 'connectMs', 'durationMs', 'udp', 'httpMethod', 'httpStatus'];

interface Case {
  readonly outcome: string;
  readonly config?: (echo: EchoServer) => Partial<ServerConfig>;
  /** Drives the client; `second` opens another connection. */
  readonly drive: (c: Collector, echo: EchoServer, second: () => Promise<Collector>) => Promise<void>;
  /** The fields that differ from an unanswered SOCKS5 connection's nulls. */
  readonly expect: (echo: EchoServer, closed: number) => Record<string, unknown>;
}

const socks5 = { version: 5, method: 'none', command: 'connect' };
const cases: Case[] = [
  {
    outcome: 'ok',
    drive: async (c, echo) => {
      await greet(c);
      await request5(c, toAddress('127.0.0.1', echo.port));
      c.socket.write('hello');
      await c.take(5);
      c.socket.end();
      await c.end();
    },
    expect: (echo) => ({ ...socks5, target: `127.0.0.1:${echo.port}`, reply: 0, rule: 'default: allow', dialed: `127.0.0.1:${echo.port}`, bound: /^127\.0\.0\.1:\d+$/, connectMs: /^\d+(\.\d+)?$/, result: 'ok', bytesUp: 5, bytesDown: 5 }),
  },
  {
    outcome: 'refused-rule',
    config: () => ({ policy: Policy.parse(['deny port=9']) }),
    drive: async (c) => { await greet(c); await request5(c, toAddress('127.0.0.1', 9)); },
    expect: () => ({ ...socks5, target: '127.0.0.1:9', reply: 2, rule: 'deny port=9', result: 'connection not allowed by ruleset (rule: deny port=9)' }),
  },
  {
    outcome: 'refused-auth',
    config: () => ({ authenticate: alice }),
    drive: async (c) => { await greet(c, [0x02]); assert.deepEqual(await authenticate(c, 'alice', 'wrong'), hex('01 01')); },
    expect: () => ({ version: 5, method: 'userpass', user: 'alice', result: 'authentication failed' }),
  },
  {
    outcome: 'no-method',
    config: () => ({ authenticate: alice }),
    drive: async (c) => { assert.deepEqual(await greet(c, [0x00]), hex('05 ff')); },
    expect: () => ({ version: 5, method: 'no-acceptable', result: 'no acceptable method (offered 0)' }),
  },
  {
    outcome: 'bad-request',
    drive: async (c) => { await greet(c); c.socket.write(hex('05 01 00 09 00 00')); await c.take(10); },
    expect: () => ({ version: 5, method: 'none', reply: 8, result: 'address type not supported (bad request: unknown address type 0x9)' }),
  },
  {
    outcome: 'upstream-refused',
    drive: async (c, _echo) => { await greet(c); await request5(c, toAddress('127.0.0.1', closed)); },
    expect: (_echo, port) => ({ ...socks5, target: `127.0.0.1:${port}`, reply: 5, rule: 'default: allow', dialed: `127.0.0.1:${port}`, result: 'connection refused' }),
  },
  {
    outcome: 'upstream-unreachable',
    config: () => ({ resolver: noNames }),
    drive: async (c) => { await greet(c); await request5(c, toAddress('nowhere.example', 80)); },
    expect: () => ({ ...socks5, target: 'nowhere.example:80', reply: 4, result: 'host unreachable (nowhere.example: no such name)' }),
  },
  {
    outcome: 'timeout',
    config: () => ({ handshakeTimeoutMs: 50 }),
    drive: async (c) => { c.socket.write(hex('05 01')); await c.end(); },
    expect: () => ({ version: 5, result: 'client did not complete the greeting in time' }),
  },
  {
    outcome: 'limit',
    config: () => ({ maxPendingHandshakes: 1 }),
    // The second connection's arrival drops the first, still in its handshake.
    drive: async (c, _echo, second) => { c.socket.write(hex('05')); await second(); await c.end(); },
    expect: () => ({ version: null, limit: 'max-handshakes', result: 'dropped for a newer connection: too many pending handshakes (--max-handshakes)' }),
  },
  {
    outcome: 'reset',
    drive: async (c) => {
      c.socket.write(hex('05 01'));
      // The server reads the greeting's first bytes, then the client resets.
      await new Promise<void>((resolve) => c.socket.write(hex(''), () => resolve()));
      c.socket.resetAndDestroy();
    },
    expect: () => ({ version: 5, result: /^client connection failed during greeting: /, }),
  },
  {
    outcome: 'not-socks',
    // A TLS ClientHello: neither SOCKS nor HTTP (which the HTTP proxy would answer).
    drive: async (c) => { c.socket.write(Buffer.from('160301', 'hex')); await c.end(); },
    expect: () => ({ result: 'not a SOCKS request (first byte 0x16)' }),
  },
  {
    outcome: 'refused-command',
    config: () => ({ commands: {} }),
    drive: async (c) => { await greet(c); c.socket.write(encodeRequest({ command: Command.BIND, address: toAddress('0.0.0.0', 0) })); await c.take(10); },
    expect: () => ({ version: 5, method: 'none', command: 'bind', target: '0.0.0.0:0', reply: 7, result: 'command not supported' }),
  },
  {
    outcome: 'aborted',
    drive: async (c) => { c.socket.write(hex('05')); c.socket.end(); await c.end(); },
    expect: () => ({ version: 5, result: 'client closed the connection during greeting' }),
  },
];

let closed = 0;

describe('the JSON log: one line per connection, every outcome', () => {
  let echo: EchoServer;
  before(async () => {
    echo = await startEcho();
    closed = await closedPort();
  });
  after(() => echo.close());

  for (const c of cases) {
    test(c.outcome, T, async () => {
      const server: TestServer = await startSocksServer(c.config?.(echo) ?? {});
      try {
        const client = await server.client();
        await c.drive(client, echo, () => server.client());
        const record = await server.record(0);
        if (c.outcome === 'reset' && record.outcome !== 'reset') assert.fail(`a reset during the greeting logged ${record.outcome}: ${record.result}`);
        const line = formatJsonRecord(record);
        assert.ok(!line.includes('\n'), line);
        const json = JSON.parse(line) as Record<string, unknown>;
        assert.deepEqual(Object.keys(json), FIELDS);
        const expected: Record<string, unknown> = {
          client: record.client, listener: `127.0.0.1:${server.port}`, version: null, method: null, command: null, target: null, user: null,
          outcome: c.outcome, reply: null, rule: null, limit: null, dialed: null, bound: null, peer: null, bytesUp: 0, bytesDown: 0, connectMs: null, udp: null,
          ...c.expect(echo, closed),
        };
        assert.match(String(json.time), ISO);
        assert.ok(Math.abs(Date.parse(String(json.time)) - Date.now()) < 10_000);
        assert.match(String(json.client), /^127\.0\.0\.1:\d+$/);
        assert.equal(typeof json.durationMs, 'number');
        assert.equal(typeof json.handshakeMs, 'number');
        for (const [key, value] of Object.entries(expected)) {
          if (value instanceof RegExp) assert.match(String(json[key]), value, key);
          else assert.deepEqual(json[key], value, `${key} in ${line}`);
        }
        if (c.outcome === 'ok') {
          assert.equal(typeof json.connectMs, 'number');
          assert.ok((json.handshakeMs as number) > 0);
        }
      } finally {
        await server.close();
      }
    });
  }

  test('a target name with a newline and invalid UTF-8 stays one line of valid JSON (and of text)', T, async () => {
    const server = await startSocksServer({ resolver: noNames });
    try {
      const c = await server.client();
      await greet(c);
      const name = Buffer.concat([Buffer.from('evil\n{"outcome":"ok"}'), hex('ff fe c3'), Buffer.from('.example')]);
      c.socket.write(Buffer.concat([hex('05 01 00 03'), Buffer.from([name.length]), name, hex('0050')]));
      assert.deepEqual(await c.take(10), hex('05 04 00 01 00000000 0000'));
      const record: ConnectionRecord = await server.record(0);
      const line = formatJsonRecord(record);
      assert.equal(line.split('\n').length, 1);
      // Valid UTF-8: what is written decodes back to the same text.
      assert.equal(Buffer.from(line, 'utf8').toString('utf8'), line);
      // The name holds colons, so the address is bracketed.
      assert.ok(line.includes('"target":"[evil\\n{\\"outcome\\":\\"ok\\"}\ufffd\ufffd\ufffd.example]:80"'), line);
      const json = JSON.parse(line) as Record<string, unknown>;
      assert.equal(json.target, '[evil\n{"outcome":"ok"}\ufffd\ufffd\ufffd.example]:80');
      assert.equal(json.outcome, 'upstream-unreachable');
      const text = formatConnectionRecord(record);
      assert.ok(!text.includes('\n'), text);
      assert.match(text, /^\d{4}-\d\d-\d\dT\S+Z 127\.0\.0\.1:\d+ socks5 connect \[evil\\x0a\{"outcome":"ok"\}(\\u\{fffd\}){3}\.example\]:80 host unreachable/);
    } finally {
      await server.close();
    }
  });
});
