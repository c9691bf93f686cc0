/** CONNECT through upstream proxies (serve --upstream): bytes both ways, the upstream's BND address and its
 * refusal code reach our client as the upstream sent them, names go to a name-resolving upstream unresolved. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeGreeting, decodeRequest } from '../../lib/codec/socks5.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';
import { hex, startEcho, withRogue, type EchoServer, type RoguePeer } from '../helpers/net.ts';
import { greet, request5, socks4Connect, startSocksServer } from '../helpers/socks.ts';
import { socksUrl, startChained } from './helpers.ts';

/** A SOCKS5 upstream that takes a greeting and a request, answers `reply`, then echoes. Returns the request. */
function fakeUpstream(reply: Buffer, seen: Array<ReturnType<typeof decodeRequest>>): (peer: RoguePeer) => Promise<void> {
  return async ({ socket, input }) => {
    await input.read(decodeGreeting);
    socket.write(hex('05 00'));
    const { value } = await input.read(decodeRequest);
    seen.push({ done: true, value, length: 0 });
    socket.write(reply);
    if (reply[1] !== 0) return void socket.end();
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  };
}

describe('CONNECT through an upstream', () => {
  let echo: EchoServer;
  before(async () => { echo = await startEcho(); });
  after(async () => { await echo.close(); });

  test('socx -> socx -> target: bytes both ways, byte-exact, and the record names the route', { timeout: 20_000 }, async () => {
    const upstream = await startSocksServer();
    const server = await startChained([socksUrl(upstream)]);
    try {
      const client = await server.client();
      assert.deepEqual(await greet(client), hex('05 00'));
      const { reply } = await request5(client, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
      assert.equal(reply.reply, 0);
      const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff));
      client.socket.end(payload);
      assert.deepEqual(await client.end(10_000), payload);
      const record = await server.record(0);
      assert.equal(record.outcome, 'ok');
      assert.equal(record.upstream, 'default');
      assert.equal(record.dialed, `127.0.0.1:${echo.port}`);
      assert.equal((await upstream.record(0)).target, `127.0.0.1:${echo.port}`);
    } finally {
      await server.close();
      await upstream.close();
    }
  });

  test("the upstream's BND address is the one in our reply", { timeout: 10_000 }, async () => {
    const seen: Array<ReturnType<typeof decodeRequest>> = [];
    await withRogue(fakeUpstream(hex('05 00 00 01 c0000201 1f90'), seen), async (rogue) => {
      const server = await startChained([socksUrl(rogue)]);
      try {
        const client = await server.client();
        await greet(client);
        const { bytes } = await request5(client, { type: 'ipv4', host: '127.0.0.1', port: 9 });
        assert.deepEqual(bytes, hex('05 00 00 01 c0000201 1f90'));
        client.socket.write('ping');
        assert.deepEqual(await client.take(4), Buffer.from('ping'));
      } finally {
        await server.close();
      }
    });
  });

  for (const [name, upstreamReply, ours] of [
    ['SOCKS5 0x05 (connection refused)', '05 05 00 01 00000000 0000', '05 05 00 01 00000000 0000'],
    ['SOCKS5 0x02 (not allowed by its rules)', '05 02 00 01 00000000 0000', '05 02 00 01 00000000 0000'],
    ['SOCKS5 0x04 cut short after the code', '05 04', '05 04 00 01 00000000 0000'],
  ] as const) {
    test(`an upstream's ${name} reaches the client as ${ours.slice(3, 5)}`, { timeout: 10_000 }, async () => {
      await withRogue(fakeUpstream(hex(upstreamReply), []), async (rogue) => {
        const server = await startChained([socksUrl(rogue)]);
        try {
          const client = await server.client();
          await greet(client);
          const { bytes } = await request5(client, { type: 'ipv4', host: '127.0.0.1', port: 9 });
          assert.deepEqual(bytes, hex(ours));
          const record = await server.record(0);
          assert.equal(record.outcome, 'upstream-refused');
          assert.match(record.result, /via default: proxy refused/);
        } finally {
          await server.close();
        }
      });
    });
  }

  test('an upstream that cannot be reached is our failure (0x01), not the target refusing (0x05)', { timeout: 10_000 }, async () => {
    const gone = await startSocksServer();
    const url = socksUrl(gone);
    await gone.close();
    const server = await startChained([url]);
    try {
      const client = await server.client();
      await greet(client);
      const { bytes } = await request5(client, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
      assert.deepEqual(bytes, hex('05 01 00 01 00000000 0000'));
      assert.equal((await server.record(0)).outcome, 'upstream-unreachable');
    } finally {
      await server.close();
    }
  });

  test('an upstream login: the credentials go to the upstream, and a wrong one is 0x01 with no password in the record', { timeout: 10_000 }, async () => {
    const upstream = await startSocksServer({ authenticate: usersAuthenticator(new Map([['up', 's3cret-pass']])) });
    const good = await startChained([socksUrl(upstream, 'socks5h', 'up:s3cret-pass@')]);
    const bad = await startChained([socksUrl(upstream, 'socks5h', 'up:wrong-pass@')]);
    try {
      for (const [server, expected] of [[good, hex('05 00')], [bad, hex('05 01')]] as const) {
        const client = await server.client();
        await greet(client);
        const { bytes } = await request5(client, { type: 'ipv4', host: '127.0.0.1', port: echo.port });
        assert.deepEqual(bytes.subarray(0, 2), expected);
        client.socket.destroy();
      }
      const record = await bad.record(0);
      assert.match(record.result, /rejected the username\/password/);
      assert.doesNotMatch(JSON.stringify(record) + bad.debug.join('\n'), /wrong-pass|s3cret/);
    } finally {
      await good.close();
      await bad.close();
      await upstream.close();
    }
  });

  test('an IPv6 address through a SOCKS4 or SOCKS4a upstream: 0x08, as for a name with only IPv6 addresses', { timeout: 10_000 }, async () => {
    const upstream = await startSocksServer();
    try {
      for (const scheme of ['socks4', 'socks4a']) {
        const server = await startChained([socksUrl(upstream, scheme)]);
        try {
          const client = await server.client();
          await greet(client);
          const { bytes } = await request5(client, { type: 'ipv6', host: '::1', port: echo.port });
          assert.deepEqual(bytes, hex('05 08 00 01 00000000 0000'), scheme);
          const record = await server.record(0);
          assert.equal(record.outcome, 'upstream-unreachable');
          assert.equal(record.result, 'address type not supported (::1 is an IPv6 address, which a SOCKS4 upstream cannot carry)');
        } finally {
          await server.close();
        }
      }
      assert.equal(upstream.records.length, 0, 'nothing reached the upstream');
    } finally {
      await upstream.close();
    }
  });

  test('a name goes to a socks5h upstream unresolved; to a socks5 upstream as the address we resolved', { timeout: 10_000 }, async () => {
    for (const [scheme, atyp, host] of [['socks5h', 'domain', 'localhost'], ['socks5', 'ipv4', '127.0.0.1']] as const) {
      const seen: Array<ReturnType<typeof decodeRequest>> = [];
      await withRogue(fakeUpstream(hex('05 00 00 01 7f000001 0001'), seen), async (rogue) => {
        const server = await startChained([socksUrl(rogue, scheme)]);
        try {
          const client = await server.client();
          await greet(client);
          const { reply } = await request5(client, { type: 'domain', host: 'localhost', port: 4242 });
          assert.equal(reply.reply, 0);
          const request = seen[0];
          assert.ok(request?.done);
          assert.equal(request.value.address.type, atyp, scheme);
          assert.equal(request.value.address.host, host, scheme);
          assert.equal(request.value.address.port, 4242);
        } finally {
          await server.close();
        }
      });
    }
  });

  test('a rule on addresses before any on names: the name is resolved here and the address checked is sent on', { timeout: 10_000 }, async () => {
    for (const [rules, atyp] of [[['deny private'], 'address'], [['allow to=localhost', 'deny private'], 'domain'], [['deny to=loopback'], undefined]] as const) {
      const seen: Array<ReturnType<typeof decodeRequest>> = [];
      await withRogue(fakeUpstream(hex('05 00 00 01 7f000001 0001'), seen), async (rogue) => {
        const server = await startChained([socksUrl(rogue, 'socks5h')], {}, rules);
        try {
          const client = await server.client();
          await greet(client);
          const { reply } = await request5(client, { type: 'domain', host: 'localhost', port: 4242 });
          const request = seen[0];
          if (atyp === undefined) {
            assert.equal(reply.reply, 0x02, 'localhost resolves to loopback here, which the rule refuses');
            assert.equal(request, undefined, 'the upstream was never asked');
          } else {
            assert.equal(reply.reply, 0, rules.join(', '));
            assert.ok(request?.done);
            // An address (IPv4 or IPv6, as the resolver orders them) rather than the name.
            if (atyp === 'domain') assert.equal(request.value.address.type, 'domain', rules.join(', '));
            else assert.notEqual(request.value.address.type, 'domain', rules.join(', '));
          }
        } finally {
          await server.close();
        }
      });
    }
  });

  for (const [upstreamReply, ours] of [['05 00 00 01 7f000001 1f90', '00 5a 1f90 7f000001'], ['05 05 00 01 00000000 0000', '00 5b 0000 00000000']] as const) {
    test(`a SOCKS4 client through a SOCKS5 upstream: upstream ${upstreamReply.slice(0, 5)} -> ${ours.slice(0, 5)}`, { timeout: 10_000 }, async () => {
      await withRogue(fakeUpstream(hex(upstreamReply), []), async (rogue) => {
        const server = await startChained([socksUrl(rogue)]);
        try {
          const client = await server.client();
          client.socket.write(socks4Connect({ type: 'ipv4', host: '127.0.0.1', port: 9 }));
          assert.deepEqual(await client.take(8), hex(ours));
        } finally {
          await server.close();
        }
      });
    });
  }
});
