/** Every way the server says no: a complete reply (10 bytes for SOCKS5, 8 for SOCKS4, `05 FF`, `01 01`),
 * then the connection closes, and the record says why. */

import { Policy } from '../../lib/policy/policy.ts';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from '../../lib/codec/address.ts';
import type { UpstreamDial } from '../../lib/dial.ts';
import { SocxError } from '../../lib/errors.ts';
import type { ServerConfig } from '../../lib/server/types.ts';
import { closedPort, hex, startEcho, type EchoServer } from '../helpers/net.ts';
import { authenticate, greet, request5, socks4Connect, socketError, startSocksServer } from '../helpers/socks.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';

const SOCKS5_FAILURE = (code: string): Buffer => hex(`05 ${code} 00 01 00000000 0000`);
const SOCKS4_REJECTED = hex('00 5b 0000 00000000');

const rejectingDial = (error: unknown): UpstreamDial => async () => { throw error; };

interface Case {
  readonly name: string;
  readonly code: string;
  readonly config: (closed: number) => Partial<ServerConfig>;
  readonly target?: (closed: number) => Address;
  readonly result: RegExp;
}

const cases: Case[] = [
  { name: 'connection refused (a closed port)', code: '05', config: () => ({}), result: /^connection refused/ },
  { name: 'connect timeout (dial rejects with SocxError timeout)', code: '06', config: () => ({ dial: rejectingDial(new SocxError('timeout', 'connecting timed out')) }), result: /^TTL expired/ },
  { name: 'network unreachable (ENETUNREACH)', code: '03', config: () => ({ dial: rejectingDial(socketError('ENETUNREACH')) }), result: /^network unreachable/ },
  { name: 'host unreachable (EHOSTUNREACH)', code: '04', config: () => ({ dial: rejectingDial(socketError('EHOSTUNREACH')) }), result: /^host unreachable/ },
  { name: 'host name not found (ENOTFOUND)', code: '04', config: () => ({ dial: rejectingDial(socketError('ENOTFOUND')) }), result: /^host unreachable/ },
  { name: 'an unknown dial error', code: '01', config: () => ({ dial: rejectingDial(new Error('something odd')) }), result: /^general SOCKS server failure/ },
  { name: 'not allowed by the ruleset', code: '02', config: () => ({ policy: Policy.parse(['deny any']) }), result: /^connection not allowed by ruleset \(rule: deny any\)/ },
];

describe('SocksServer failure replies', () => {
  let closed: number;
  let echo: EchoServer;
  before(async () => {
    closed = await closedPort();
    echo = await startEcho();
  });
  after(async () => { await echo.close(); });

  for (const c of cases) {
    test(`SOCKS5 ${c.name} → complete 10-byte reply 0x${c.code}, then close`, { timeout: 10_000 }, async () => {
      const server = await startSocksServer(c.config(closed));
      try {
        const client = await server.client();
        await greet(client);
        const { bytes } = await request5(client, { type: 'ipv4', host: '127.0.0.1', port: closed });
        assert.deepEqual(bytes, SOCKS5_FAILURE(c.code));
        assert.equal((await client.end()).length, 0, 'nothing after the reply');
        const record = await server.record(0);
        assert.equal(record.ok, false);
        assert.equal(record.version, 5);
        assert.match(record.result, c.result);
      } finally {
        await server.close();
      }
    });

    test(`SOCKS4 ${c.name} → complete 8-byte reply 0x5B, then close`, { timeout: 10_000 }, async () => {
      const server = await startSocksServer(c.config(closed));
      try {
        const client = await server.client();
        client.socket.write(socks4Connect({ type: 'ipv4', host: '127.0.0.1', port: closed }));
        assert.deepEqual(await client.take(8), SOCKS4_REJECTED);
        assert.equal((await client.end()).length, 0);
        const record = await server.record(0);
        assert.equal(record.version, 4);
        assert.match(record.result, c.result);
      } finally {
        await server.close();
      }
    });
  }

  test('the policy sees the client, the port, the user, and the name the client asked for (0x02, the rule logged)', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ policy: Policy.parse(['deny from=127.0.0.1 to=*.invalid port=1 cmd=connect']) });
    try {
      const client = await server.client();
      await greet(client);
      const { bytes } = await request5(client, { type: 'domain', host: 'example.invalid', port: 1 });
      assert.deepEqual(bytes, SOCKS5_FAILURE('02'));
      const record = await server.record(0);
      assert.equal(record.outcome, 'refused-rule');
      assert.equal(record.rule, 'deny from=127.0.0.1 to=*.invalid port=1 cmd=connect');
    } finally {
      await server.close();
    }
  });

  test('an unknown command (CMD 0x09) → 0x07 command not supported', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const client = await server.client();
      const peers = echo.peers.length;
      await greet(client);
      client.socket.write(hex(`05 09 00 01 7f000001 ${echo.port.toString(16).padStart(4, '0')}`));
      assert.deepEqual(await client.take(10), SOCKS5_FAILURE('07'));
      assert.equal((await client.end()).length, 0);
      assert.equal(echo.peers.length, peers, 'no upstream connection for an unsupported command');
      assert.match((await server.record(0)).result, /command not supported/);
    } finally {
      await server.close();
    }
  });

  test('an unknown address type (ATYP 0x02) → 0x08 address type not supported', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const client = await server.client();
      await greet(client);
      client.socket.write(hex('05 01 00 02 7f000001 0050'));
      assert.deepEqual(await client.take(10), SOCKS5_FAILURE('08'));
      assert.equal((await client.end()).length, 0);
    } finally {
      await server.close();
    }
  });

  test('a request with a non-zero reserved byte → 0x01 general failure', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const client = await server.client();
      await greet(client);
      client.socket.write(hex('05 01 01 01 7f000001 0050'));
      assert.deepEqual(await client.take(10), SOCKS5_FAILURE('01'));
      assert.equal((await client.end()).length, 0);
    } finally {
      await server.close();
    }
  });
});

describe('SocksServer method selection and RFC 1929', () => {
  const users = new Map([['alice', 'wonderland'], ['bob', 'pa:ss:word']]);
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });

  test('with users configured, a client offering only 00 gets 05 FF and is closed', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(users) });
    try {
      const client = await server.client();
      assert.deepEqual(await greet(client, [0x00]), hex('05 ff'));
      assert.equal((await client.end()).length, 0);
      assert.match((await server.record(0)).result, /no acceptable method/);
    } finally {
      await server.close();
    }
  });

  test('without users, a client offering only 02 gets 05 FF and is closed', { timeout: 10_000 }, async () => {
    const server = await startSocksServer();
    try {
      const client = await server.client();
      assert.deepEqual(await greet(client, [0x02]), hex('05 ff'));
      assert.equal((await client.end()).length, 0);
    } finally {
      await server.close();
    }
  });

  test('offering 00 and 02: the server picks 00 without users and 02 with users', { timeout: 10_000 }, async () => {
    const open = await startSocksServer();
    const locked = await startSocksServer({ authenticate: usersAuthenticator(users) });
    try {
      assert.deepEqual(await greet(await open.client(), [0x01, 0x02, 0x00]), hex('05 00'));
      assert.deepEqual(await greet(await locked.client(), [0x00, 0x01, 0x02]), hex('05 02'));
    } finally {
      await open.close();
      await locked.close();
    }
  });

  test('right credentials → 01 00, then CONNECT works', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(users) });
    try {
      const client = await server.client();
      assert.deepEqual(await greet(client, [0x02]), hex('05 02'));
      assert.deepEqual(await authenticate(client, 'bob', 'pa:ss:word'), hex('01 00'));
      const { reply } = await request5(client, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
      assert.equal(reply.reply, 0);
      client.socket.write(Buffer.from('authed'));
      assert.equal((await client.take(6)).toString(), 'authed');
    } finally {
      await server.close();
    }
  });

  for (const [what, username, password] of [['a wrong password', 'alice', 'Wonderland'], ['an unknown user', 'mallory', 'wonderland']] as const) {
    test(`${what} → 01 01 and the connection is closed`, { timeout: 10_000 }, async () => {
      const server = await startSocksServer({ authenticate: usersAuthenticator(users) });
      try {
        const client = await server.client();
        await greet(client, [0x02]);
        assert.deepEqual(await authenticate(client, username, password), hex('01 01'));
        assert.equal((await client.end()).length, 0);
        const record = await server.record(0);
        assert.equal(record.ok, false);
        assert.equal(record.user, username);
        assert.equal(record.result, 'authentication failed');
      } finally {
        await server.close();
      }
    });
  }

  test('SOCKS4 is refused when users are configured: 8-byte 0x5B reply', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(users) });
    try {
      const client = await server.client();
      const peers = echo.peers.length;
      client.socket.write(socks4Connect({ type: 'ipv4', host: '127.0.0.1', port: echo.port }, 'alice'));
      assert.deepEqual(await client.take(8), SOCKS4_REJECTED);
      assert.equal((await client.end()).length, 0);
      assert.equal(echo.peers.length, peers, 'no upstream connection');
      assert.match((await server.record(0)).result, /authentication is required/);
    } finally {
      await server.close();
    }
  });

  test('SOCKS4 is refused when disabled (socks4: false), SOCKS5 still works', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ socks4: false });
    try {
      const four = await server.client();
      four.socket.write(socks4Connect({ type: 'ipv4', host: '127.0.0.1', port: echo.port }));
      assert.deepEqual(await four.take(8), SOCKS4_REJECTED);
      assert.equal((await four.end()).length, 0);
      const five = await server.client();
      await greet(five);
      assert.equal((await request5(five, { type: 'ipv4', host: '127.0.0.1', port: echo.port })).reply.reply, 0);
    } finally {
      await server.close();
    }
  });

  test('SOCKS4a is refused when users are configured', { timeout: 10_000 }, async () => {
    const server = await startSocksServer({ authenticate: usersAuthenticator(users) });
    try {
      const client = await server.client();
      client.socket.write(socks4Connect({ type: 'domain', host: 'localhost', port: echo.port }));
      assert.deepEqual(await client.take(8), SOCKS4_REJECTED);
      assert.equal((await client.end()).length, 0);
    } finally {
      await server.close();
    }
  });
});
