/** Chains in-process (lib/client/chain.ts): SocksServers as hops, with different logins per hop; byte-exact
 * both ways; which hop saw which target; errors that name the failing hop with the right exit code; bytes
 * behind a hop's reply; BIND and UDP ASSOCIATE done by the last hop; dialThrough as a plain Dial. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { acceptPeer, requestBind } from '../../lib/client/bind.ts';
import { dialThrough } from '../../lib/client/chain.ts';
import { chainOptions, openSession, type ClientOptions, type ProxySession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { toAddress } from '../../lib/codec/address.ts';
import { describeError, exitCodeFor, SocxError } from '../../lib/errors.ts';
import type { LookupCallback } from '../../lib/resolver/types.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';
import { closedPort, Collector, hex, listen, closeServer, startEcho, startRogue, withTimeout, type EchoServer, type RogueServer } from '../helpers/net.ts';
import { startSocksServer, type TestServer } from '../helpers/socks.ts';
import { connectPeer } from '../bind/helpers.ts';

const T = { timeout: 20_000 };

function chain(urls: string[], extra: Partial<ClientOptions> = {}): ClientOptions {
  return { ...chainOptions(urls.map((url) => parseProxyUrl(url))), timeoutMs: 3000, ...extra };
}

async function failure(promise: Promise<ProxySession>): Promise<SocxError> {
  const outcome = await withTimeout(promise.then((session) => { session.socket.destroy(); return undefined; }, (error: unknown) => error), 5000, 'the chain to fail');
  assert.ok(outcome instanceof SocxError, `expected a SocxError, got ${String(outcome)}`);
  return outcome;
}

/** Sends `data` through the session, half-closes, and returns everything that came back. */
async function roundTrip(session: ProxySession, data: Buffer): Promise<Buffer> {
  const collector = new Collector(session.socket);
  session.socket.end(data);
  return Buffer.concat([session.head, await collector.end(10_000)]);
}

describe('a chain of three SocksServers, a different login on each hop', () => {
  let alice: TestServer;
  let bob: TestServer;
  let open: TestServer;
  let echo: EchoServer;
  before(async () => {
    alice = await startSocksServer({ authenticate: usersAuthenticator(new Map([['alice', 'a-pw']])) });
    bob = await startSocksServer({ authenticate: usersAuthenticator(new Map([['bob', 'b:pw']])) });
    open = await startSocksServer();
    echo = await startEcho();
  });
  after(async () => {
    await Promise.all([alice.close(), bob.close(), open.close(), echo.close()]);
  });

  const urls = (): string[] => [`socks5h://alice:a-pw@127.0.0.1:${alice.port}`, `socks5://bob:b%3Apw@localhost:${bob.port}`, `socks4a://127.0.0.1:${open.port}`];

  test('1 MiB each way byte-exact; each hop was asked for the next one, the last for the target', T, async () => {
    const data = randomBytes(1024 * 1024);
    const session = await openSession('connect', toAddress('localhost', echo.port), chain(urls()));
    assert.ok((await roundTrip(session, data)).equals(data), 'echo differs');
    // socks5h hop 1 gets hop 2's name; socks5 hop 2 gets hop 3's address as given (an IP); socks4a hop 3 the
    // target's name.
    const records = await Promise.all([alice.record(0), bob.record(0), open.record(0)]);
    assert.deepEqual(records.map((r) => [r.user, r.version, r.target]), [
      ['alice', 5, `localhost:${bob.port}`],
      ['bob', 5, `127.0.0.1:${open.port}`],
      [undefined, 4, `localhost:${echo.port}`],
    ]);
  });

  test('a socks5:// hop: the next hop\'s name is resolved here, before anything is dialed', T, async () => {
    const looked: string[] = [];
    const resolver = { lookup: (host: string, _client: string, callback: LookupCallback) => { looked.push(host); callback(null, [{ address: '127.0.0.1', family: 4 as const }]); } };
    const session = await openSession('connect', toAddress('127.0.0.1', echo.port), chain([`socks5://alice:a-pw@127.0.0.1:${alice.port}`, `socks5h://open.test:${open.port}`], { resolver }));
    assert.equal((await roundTrip(session, Buffer.from('x'))).toString(), 'x');
    assert.deepEqual(looked, ['open.test']);
    assert.equal((await alice.record(alice.records.length - 1)).target, `127.0.0.1:${open.port}`);
  });

  test('an IPv6 hop: hop 1 is asked for [::1]:PORT (ATYP 4), byte-exact through it', T, async () => {
    const six = await startSocksServer({}, '::1');
    try {
      const session = await openSession('connect', toAddress('127.0.0.1', echo.port), chain([urls()[0]!, `socks5h://[::1]:${six.port}`]));
      assert.equal((await roundTrip(session, Buffer.from('over six'))).toString(), 'over six');
      assert.equal((await six.record(0)).target, `127.0.0.1:${echo.port}`);
      for (let i = 0; (await alice.record(i)).target !== `[::1]:${six.port}`; i++);
    } finally {
      await six.close();
    }
  });

  test('hop 2 rejects the login: exit 3, the message names hop 2', T, async () => {
    const error = await failure(openSession('connect', toAddress('127.0.0.1', echo.port), chain([urls()[0]!, `socks5h://bob:wrong@127.0.0.1:${bob.port}`, urls()[2]!])));
    assert.equal(exitCodeFor(error), 3);
    assert.equal(error.hop, 2);
    assert.equal(describeError(error), `hop 2 (socks5h://127.0.0.1:${bob.port}) rejected the username/password for user "bob"`);
  });

  test('hop 3 cannot reach the target: exit 4, "hop 3 (…) refused: connection refused (SOCKS5 reply 0x05)"', T, async () => {
    const port = await closedPort();
    const error = await failure(openSession('connect', toAddress('127.0.0.1', port), chain([urls()[0]!, urls()[1]!, `socks5h://127.0.0.1:${open.port}`])));
    assert.equal(exitCodeFor(error), 4);
    assert.equal(describeError(error), `hop 3 (socks5h://127.0.0.1:${open.port}) refused: connection refused (SOCKS5 reply 0x05)`);
  });

  test('hop 2 is down: hop 1 says so, exit 4', T, async () => {
    const port = await closedPort();
    const error = await failure(openSession('connect', toAddress('127.0.0.1', echo.port), chain([urls()[0]!, `socks5h://127.0.0.1:${port}`])));
    assert.equal(exitCodeFor(error), 4);
    assert.equal(describeError(error), `hop 1 (socks5h://127.0.0.1:${alice.port}) refused: connection refused (SOCKS5 reply 0x05)`);
  });

  test('hop 1 is down: "Cannot connect to hop 1 (…)", exit 1', T, async () => {
    const port = await closedPort();
    const error = await failure(openSession('connect', toAddress('127.0.0.1', echo.port), chain([`socks5h://127.0.0.1:${port}`, urls()[0]!])));
    assert.equal(exitCodeFor(error), 1);
    assert.equal(describeError(error), `Cannot connect to hop 1 (socks5h://127.0.0.1:${port}): connection refused`);
  });

  test('a SOCKS4 hop in the middle cannot carry an IPv6 next hop: usage error before anything is dialed', T, async () => {
    const first = await startRogue(() => {});
    try {
      const error = await failure(openSession('connect', toAddress('127.0.0.1', echo.port), chain([`socks4://127.0.0.1:${first.port}`, `socks5h://[::1]:${open.port}`])));
      assert.equal(exitCodeFor(error), 2);
      assert.equal(first.peers.length, 0);
    } finally {
      await first.close();
    }
  });

  test('the trace: one line per message, "[hop N]" on each, never a password', T, async () => {
    const lines: string[] = [];
    const session = await openSession('connect', toAddress('localhost', echo.port), chain(urls(), { trace: (line) => lines.push(line) }));
    session.socket.destroy();
    assert.deepEqual(lines.map((line) => line.replace(/bnd=127\.0\.0\.1:\d+$/, 'bnd=127.0.0.1:P')), [
      `[hop 1] * connected to 127.0.0.1:${alice.port}`,
      '[hop 1] > socks5 greeting methods=none,userpass',
      '[hop 1] < socks5 method userpass',
      '[hop 1] > socks5 auth user=alice',
      '[hop 1] < socks5 auth ok',
      `[hop 1] > socks5 connect localhost:${bob.port}`,
      '[hop 1] < socks5 reply succeeded bnd=127.0.0.1:P',
      '[hop 2] > socks5 greeting methods=none,userpass',
      '[hop 2] < socks5 method userpass',
      '[hop 2] > socks5 auth user=bob',
      '[hop 2] < socks5 auth ok',
      `[hop 2] > socks5 connect 127.0.0.1:${open.port}`,
      '[hop 2] < socks5 reply succeeded bnd=127.0.0.1:P',
      `[hop 3] > socks4 connect localhost:${echo.port}`,
      '[hop 3] < socks4 reply request granted bnd=127.0.0.1:P',
    ]);
    assert.ok(!lines.join('\n').includes('pw'), 'a password in the trace');
  });

  test('BIND through the chain: the last hop listens, the peer reaches us through hops 1 and 2', T, async () => {
    const options = chain(urls().slice(0, 2).concat(`socks5h://127.0.0.1:${open.port}`));
    const pending = await requestBind({ type: 'ipv4', host: '0.0.0.0', port: 0 }, options);
    try {
      const peer = await connectPeer(pending.address);
      const accepted = await acceptPeer(pending, options, 3000);
      assert.equal(accepted.peer.port, peer.socket.localPort);
      const client = new Collector(accepted.socket);
      peer.socket.end('from the peer');
      client.socket.end('to the peer');
      assert.equal((await peer.end()).toString(), 'to the peer');
      assert.equal(accepted.head.toString() + (await client.end()).toString(), 'from the peer');
    } finally {
      pending.session.socket.destroy();
    }
  });

  test('UDP ASSOCIATE through the chain: the last hop grants it and reports its relay', T, async () => {
    const session = await openSession('udp', { type: 'ipv4', host: '0.0.0.0', port: 0 }, chain([urls()[0]!, `socks5h://127.0.0.1:${open.port}`]));
    try {
      assert.equal(session.bound.host, '127.0.0.1');
      assert.notEqual(session.bound.port, 0);
    } finally {
      session.socket.destroy();
    }
    for (let i = 0; (await open.record(i)).command !== 'udp'; i++);
  });

  test('an HTTP proxy cannot be the last hop of a BIND or UDP: usage error', T, async () => {
    for (const command of ['bind', 'udp'] as const) {
      const error = await failure(openSession(command, { type: 'ipv4', host: '0.0.0.0', port: 0 }, chain([urls()[0]!, 'http://127.0.0.1:1'])));
      assert.equal(exitCodeFor(error), 2);
      assert.match(error.message, /needs a SOCKS proxy: an HTTP proxy \(http:\/\/127\.0\.0\.1:1\) only tunnels TCP connections/);
    }
  });

  test('dialThrough: a plain Dial whose sockets go through the hops; a banner right behind the reply is kept', T, async () => {
    const sockets = new Set<Socket>();
    const banner = createServer((socket) => { sockets.add(socket); socket.end('SSH-2.0-test\r\n'); });
    const port = await listen(banner, '127.0.0.1');
    try {
      const dial = dialThrough([parseProxyUrl(urls()[0]!), parseProxyUrl(`socks5h://127.0.0.1:${open.port}`)], {});
      const socket = await dial('127.0.0.1', port, { timeoutMs: 3000 });
      assert.equal((await new Collector(socket).end()).toString(), 'SSH-2.0-test\r\n');
    } finally {
      await closeServer(banner, sockets);
    }
  });
});

describe('chains against scripted hops', () => {
  let rogue: RogueServer | undefined;
  after(async () => rogue?.close());

  test('bytes that arrive right behind a hop\'s reply feed the next hop\'s handshake, and the last hop\'s reach the caller', T, async () => {
    // One fake proxy plays both hops and answers early: hop 2's method selection rides with hop 1's reply,
    // the target's first bytes with hop 2's reply.
    rogue = await startRogue(async (peer) => {
      await peer.input.take(3);
      peer.socket.write(hex('05 00'));
      await peer.input.take(10);
      peer.socket.write(Buffer.concat([hex('05 00 00 01 7f000001 0001'), hex('05 00')]));
      await peer.input.take(3);
      await peer.input.take(10);
      peer.socket.write(Buffer.concat([hex('05 00 00 01 7f000001 0002'), Buffer.from('hello')]));
    });
    const session = await openSession('connect', toAddress('127.0.0.1', 9), chain([`socks5://127.0.0.1:${rogue.port}`, 'socks5://127.0.0.1:7']));
    try {
      assert.equal(session.head.toString(), 'hello');
      assert.deepEqual(session.bound, { type: 'ipv4', host: '127.0.0.1', port: 2 });
      const sent = (await rogue.peer(0)).input.all;
      assert.deepEqual(sent, hex('050100 05010001 7f000001 0007 050100 05010001 7f000001 0009'));
    } finally {
      session.socket.destroy();
    }
  });

  test('a user name with a control character is escaped in the trace and the error', T, async () => {
    const refusing = await startRogue(async (peer) => {
      await peer.input.take(4);
      peer.socket.write(hex('05 02'));
      await peer.input.take(1 + 1 + 3 + 1 + 2);
      peer.socket.write(hex('01 01'));
    });
    try {
      const lines: string[] = [];
      const error = await failure(openSession('connect', toAddress('127.0.0.1', 9), chain([`socks5://a%1Bb:pw@127.0.0.1:${refusing.port}`], { trace: (line) => lines.push(line) })));
      assert.equal(exitCodeFor(error), 3);
      assert.equal(describeError(error), 'proxy rejected the username/password for user "a\\x1bb"');
      assert.ok(lines.includes('> socks5 auth user=a\\x1bb'), lines.join('\n'));
      assert.ok(lines.includes('< socks5 auth failed status=0x01'), lines.join('\n'));
    } finally {
      await refusing.close();
    }
  });

  test('a hop that never answers: timeout naming the hop, exit 1', T, async () => {
    const silent = await startRogue(async (peer) => {
      await peer.input.take(3);
      peer.socket.write(hex('05 00'));
      await peer.input.take(10);
      peer.socket.write(hex('05 00 00 01 7f000001 0001'));
    });
    try {
      const error = await failure(openSession('connect', toAddress('127.0.0.1', 9), chain([`socks5://127.0.0.1:${silent.port}`, 'socks5h://127.0.0.1:7'], { timeoutMs: 300 })));
      assert.equal(exitCodeFor(error), 1);
      assert.equal(describeError(error), 'hop 2 (socks5h://127.0.0.1:7) did not answer within 300 ms');
    } finally {
      await silent.close();
    }
  });

  test('a hop that answers HTTP: named, exit 1', T, async () => {
    const web = await startRogue(async (peer) => {
      await peer.input.take(3);
      peer.socket.write(hex('05 00'));
      await peer.input.take(10);
      peer.socket.write(Buffer.concat([hex('05 00 00 01 7f000001 0001'), Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')]));
    });
    try {
      const error = await failure(openSession('connect', toAddress('127.0.0.1', 9), chain([`socks5://127.0.0.1:${web.port}`, 'socks5h://127.0.0.1:7'])));
      assert.equal(exitCodeFor(error), 1);
      assert.equal(describeError(error), 'hop 2 (socks5h://127.0.0.1:7) answered HTTP, not SOCKS ("HTTP/1.1 400 Bad Request"): is it a web server or an HTTP proxy?');
    } finally {
      await web.close();
    }
  });
});
