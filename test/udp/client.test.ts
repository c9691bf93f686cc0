/** lib/client/udp.ts against SocksServer in-process: echo over IPv4 and IPv6, a 1,200-byte binary payload
 * byte-exact, 100 datagrams all back, BND.ADDR zeros, --local announcing, limits and endings. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Address } from '../../lib/codec/address.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { maxUdpPayload, openUdpSession, resolveUdpTarget, type UdpSession, type UdpSessionOptions } from '../../lib/client/udp.ts';
import { exitCodeFor, SocxError } from '../../lib/errors.ts';
import { deferred, hex, startRogue, withTimeout } from '../helpers/net.ts';
import { startSocksServer, type TestServer } from '../helpers/socks.ts';
import { startUdpEcho, TestUdp, unwrap, wrap } from './udp-helpers.ts';

const T = { timeout: 15_000 };

function options(server: TestServer, scheme = 'socks5h', extra: Partial<UdpSessionOptions> = {}): UdpSessionOptions {
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return { proxy: parseProxyUrl(`${scheme}://${host}:${server.port}`), timeoutMs: 3000, ...extra };
}

/** Collects replies until `count` have come, within the limit. */
function collect(session: UdpSession, count: number): Promise<Array<{ payload: Buffer; from: Address }>> {
  const replies: Array<{ payload: Buffer; from: Address }> = [];
  const done = deferred<Array<{ payload: Buffer; from: Address }>>();
  session.onDatagram((payload, from) => {
    replies.push({ payload: Buffer.from(payload), from });
    if (replies.length === count) done.resolve(replies);
  });
  return withTimeout(done.promise, 5000, `${count} replies (have ${replies.length})`);
}

async function failure(promise: Promise<unknown>): Promise<SocxError> {
  const outcome = await promise.then(() => undefined, (error: unknown) => error);
  assert.ok(outcome instanceof SocxError, `expected a SocxError, got ${String(outcome)}`);
  return outcome;
}

for (const [proxyHost, echoHost] of [['127.0.0.1', '127.0.0.1'], ['::1', '::1'], ['127.0.0.1', '::1']] as const) {
  describe(`UdpSession, proxy on ${proxyHost}, echo on ${echoHost}`, () => {
    test('text, a 1,200-byte binary payload byte for byte, and 100 datagrams all back', T, async () => {
      const server = await startSocksServer({}, proxyHost);
      const echo = await startUdpEcho(echoHost);
      const session = await openUdpSession(options(server));
      try {
        assert.equal(session.relay.host, proxyHost);
        assert.equal(session.relay.port, session.bound.port);
        const target: Address = { type: echoHost.includes(':') ? 'ipv6' : 'ipv4', host: echoHost, port: echo.port };
        let replies = collect(session, 1);
        session.send(target, Buffer.from('hello'));
        const [first] = await replies;
        assert.equal(first?.payload.toString(), 'hello');
        assert.deepEqual(first?.from, target);

        const binary = randomBytes(1200);
        replies = collect(session, 1);
        session.send(target, binary);
        assert.ok((await replies)[0]?.payload.equals(binary), '1,200 bytes differ');

        replies = collect(session, 100);
        for (let i = 0; i < 100; i++) session.send(target, Buffer.from(`datagram ${i}`));
        const got = (await replies).map((r) => r.payload.toString()).sort();
        assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `datagram ${i}`).sort());
      } finally {
        session.close();
        echo.close();
        await server.close();
      }
    });
  });
}

describe('UdpSession edges', () => {
  test('BND.ADDR 0.0.0.0 (a proxy announcing zeros): datagrams go to the proxy host instead', T, async () => {
    const server = await startSocksServer({ advertise: '0.0.0.0' });
    const echo = await startUdpEcho();
    const session = await openUdpSession(options(server));
    try {
      assert.equal(session.bound.host, '0.0.0.0');
      assert.deepEqual(session.relay, { host: '127.0.0.1', port: session.bound.port });
      const replies = collect(session, 1);
      session.send({ type: 'ipv4', host: '127.0.0.1', port: echo.port }, Buffer.from('via zeros'));
      assert.equal((await replies)[0]?.payload.toString(), 'via zeros');
    } finally {
      session.close();
      echo.close();
      await server.close();
    }
  });

  test('local: the socket is bound there and the request announces it (the server then takes only that port)', T, async () => {
    const server = await startSocksServer();
    const echo = await startUdpEcho();
    const session = await openUdpSession(options(server, 'socks5h', { local: { host: '127.0.0.1', port: 0 } }));
    try {
      assert.deepEqual(session.announced, { type: 'ipv4', host: '127.0.0.1', port: session.local.port });
      const replies = collect(session, 1);
      session.send({ type: 'ipv4', host: '127.0.0.1', port: echo.port }, Buffer.from('announced'));
      assert.equal((await replies)[0]?.payload.toString(), 'announced');
    } finally {
      session.close();
      echo.close();
      await server.close();
    }
  });

  test('the largest payload: 65507 less the header; one byte more is a usage error (exit 2)', T, async () => {
    assert.equal(maxUdpPayload({ type: 'ipv4', host: '127.0.0.1', port: 7 }), 65_497);
    assert.equal(maxUdpPayload({ type: 'ipv6', host: '::1', port: 7 }), 65_485);
    assert.equal(maxUdpPayload({ type: 'domain', host: 'example.com', port: 7 }), 65_507 - 7 - 11);
    const server = await startSocksServer();
    const echo = await startUdpEcho();
    const session = await openUdpSession(options(server));
    try {
      const target: Address = { type: 'ipv4', host: '127.0.0.1', port: echo.port };
      const replies = collect(session, 1);
      session.send(target, Buffer.alloc(65_497, 7));
      assert.equal((await replies)[0]?.payload.length, 65_497);
      assert.throws(() => session.send(target, Buffer.alloc(65_498)), (error: unknown) => error instanceof SocxError && exitCodeFor(error) === 2 && /at most 65497 bytes/.test(error.message));
    } finally {
      session.close();
      echo.close();
      await server.close();
    }
  });

  test('a SOCKS4 proxy URL is a usage error before anything is sent', T, async () => {
    const error = await failure(openUdpSession({ proxy: parseProxyUrl('socks4://127.0.0.1:9'), timeoutMs: 1000 }));
    assert.equal(error.code, 'usage');
    assert.match(error.message, /needs SOCKS5/);
  });

  test('a server without UDP ASSOCIATE: request-rejected, reply 0x07 (exit 4)', T, async () => {
    const server = await startSocksServer({ commands: {} });
    try {
      const error = await failure(openUdpSession(options(server)));
      assert.equal(error.code, 'request-rejected');
      assert.equal(error.reply?.code, 0x07);
      assert.equal(exitCodeFor(error), 4);
    } finally {
      await server.close();
    }
  });

  test('when the server ends the association (idle timeout), `closed` settles with the reason and send refuses', T, async () => {
    const server = await startSocksServer({ udpIdleTimeoutMs: 200 });
    const session = await openUdpSession(options(server));
    try {
      const reason = await withTimeout(session.closed, 3000, 'the session to close');
      assert.match(reason, /closed the control connection/);
      assert.throws(() => session.send({ type: 'ipv4', host: '127.0.0.1', port: 9 }, Buffer.from('x')), SocxError);
    } finally {
      session.close();
      await server.close();
    }
  });

  test('close() ends the control connection, and the server frees the relay port', T, async () => {
    const server = await startSocksServer();
    const session = await openUdpSession(options(server));
    session.close();
    const record = await server.record(0);
    assert.equal(record.command, 'udp');
    assert.equal(record.result, 'ok');
    const probe = await TestUdp.bind('127.0.0.1', session.bound.port);
    probe.close();
    await server.close();
  });

  test('socks5:// resolves names in datagrams on the client; socks5h:// leaves them to the proxy', T, async () => {
    const server = await startSocksServer();
    try {
      const name: Address = { type: 'domain', host: 'localhost', port: 53 };
      assert.deepEqual(await resolveUdpTarget(name, options(server, 'socks5h')), name);
      const local = await resolveUdpTarget(name, options(server, 'socks5'));
      assert.ok(local.type === 'ipv4' || local.type === 'ipv6', `resolved to ${JSON.stringify(local)}`);
      assert.equal(local.port, 53);
    } finally {
      await server.close();
    }
  });

  test('datagrams from the relay that are not valid RFC 1928 §7 (fragments, truncated) are not delivered, only counted', T, async () => {
    // A rogue proxy whose "relay" is a socket the test controls.
    const fakeRelay = await TestUdp.bind('127.0.0.1');
    const rogue = await startRogue(async (peer) => {
      await peer.input.take(3);
      peer.socket.write(hex('05 00'));
      await peer.input.take(10);
      peer.socket.write(Buffer.concat([hex('05 00 00 01 7f000001'), Buffer.from([fakeRelay.port >> 8, fakeRelay.port & 0xff])]));
    });
    const session = await openUdpSession({ proxy: parseProxyUrl(`socks5h://127.0.0.1:${rogue.port}`), timeoutMs: 3000 });
    try {
      const target: Address = { type: 'ipv4', host: '192.0.2.1', port: 7 };
      session.send(target, Buffer.from('out'));
      const sent = await fakeRelay.nth(0);
      assert.deepEqual(unwrap(sent.msg), { address: target, frag: 0, payload: Buffer.from('out') });
      const replies = collect(session, 1);
      await fakeRelay.send(wrap(target, 'fragment', 1), sent.rinfo.port, sent.rinfo.address);
      await fakeRelay.send(hex('00 00 00 01 c0'), sent.rinfo.port, sent.rinfo.address);
      await fakeRelay.send(wrap(target, 'whole'), sent.rinfo.port, sent.rinfo.address);
      const [reply] = await replies;
      assert.equal(reply?.payload.toString(), 'whole');
      assert.deepEqual(reply?.from, target);
      assert.equal(session.dropped, 2);
    } finally {
      session.close();
      fakeRelay.close();
      await rogue.close();
    }
  });
});
