/** serve --upstream with real third-party upstreams: Dante and microsocks (SOCKS5), tinyproxy and squid (HTTP
 * CONNECT); bytes exact through each, their refusals mapped to the reply our client gets, UDP and BIND
 * through Dante, 0x07 for BIND through an HTTP upstream. A missing peer fails the test, never skips it. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { hex, closedPort } from '../helpers/net.ts';
import { greet, request5, type TestServer } from '../helpers/socks.ts';
import { ANY4, bindRequest5, connectPeer, readReply } from '../bind/helpers.ts';
import { startDante, startEchoServer, startMicrosocks, startSquid, startTinyproxy, startUdpEchoServer, type Peer } from '../support/peers.ts';
import { associate, TestUdp, unwrap, wrap } from '../udp/udp-helpers.ts';
import { startChained } from './helpers.ts';

const T = { timeout: 30_000 };
const DATA = randomBytes(1024 * 1024);

/** CONNECT through `server` to 127.0.0.1:port; on success DATA goes there and back. The reply's bytes. */
async function roundTrip(server: TestServer, port: number, host = '127.0.0.1'): Promise<Buffer> {
  const client = await server.client();
  await greet(client);
  const { reply, bytes } = await request5(client, { type: host === '127.0.0.1' ? 'ipv4' : 'domain', host, port });
  if (reply.reply !== 0) return bytes;
  // Everything back before our EOF: tinyproxy, squid and microsocks end both directions on the first EOF.
  client.socket.write(DATA);
  assert.ok((await client.take(DATA.length, 20_000)).equals(DATA), 'the echo came back byte-exact');
  client.socket.end();
  await client.end();
  return bytes;
}

describe('upstreams from other projects', () => {
  const peers: Peer[] = [];
  let echo: Peer;
  let dante: Peer;
  let microsocks: Peer;
  let tinyproxy: Peer;
  let guarded: Peer;
  let squid: Peer;
  let closed: number;
  before(async () => {
    [echo, dante, microsocks, tinyproxy, squid] = await Promise.all([
      startEchoServer(), startDante({ bind: true, udp: true }), startMicrosocks({ user: 'mike', password: 'm-pw' }), startTinyproxy(), startSquid(),
    ]);
    guarded = await startTinyproxy({ connectPort: echo.port });
    peers.push(echo, dante, microsocks, tinyproxy, guarded, squid);
    closed = await closedPort();
  });
  after(async () => { await Promise.all(peers.map((peer) => peer.stop())); });

  const via = (url: () => string, name: string, refusal: { target: () => number; reply: string }) => {
    test(`socx -> ${name} -> target: byte-exact; a refusal is reply ${refusal.reply.slice(3, 5)}`, T, async () => {
      const server = await startChained([url()]);
      try {
        assert.equal((await roundTrip(server, echo.port))[1], 0);
        assert.deepEqual(await roundTrip(server, refusal.target()), hex(refusal.reply));
        assert.equal((await server.record(0)).outcome, 'ok');
        assert.doesNotMatch(JSON.stringify(server.records) + server.debug.join('\n'), /m-pw/);
      } finally {
        await server.close();
      }
    });
  };
  via(() => `socks5://127.0.0.1:${dante.port}`, 'Dante', { target: () => closed, reply: '05 05 00 01 00000000 0000' });
  via(() => `socks5h://mike:m-pw@127.0.0.1:${microsocks.port}`, 'microsocks (with a login)', { target: () => closed, reply: '05 05 00 01 00000000 0000' });
  via(() => `http://127.0.0.1:${squid.port}`, 'squid (HTTP CONNECT)', { target: () => closed, reply: '05 05 00 01 00000000 0000' });
  via(() => `http://127.0.0.1:${guarded.port}`, 'tinyproxy (HTTP CONNECT, ConnectPort)', { target: () => closed, reply: '05 02 00 01 00000000 0000' });

  test('socx -> tinyproxy: a name goes to the HTTP upstream unresolved', T, async () => {
    const server = await startChained([`http://127.0.0.1:${tinyproxy.port}`]);
    try {
      assert.equal((await roundTrip(server, echo.port, 'localhost'))[1], 0);
      assert.equal((await server.record(0)).dialed, `localhost:${echo.port}`);
    } finally {
      await server.close();
    }
  });

  test('a chain socx -> microsocks -> Dante -> target, and squid -> Dante', T, async () => {
    for (const urls of [[`socks5h://mike:m-pw@127.0.0.1:${microsocks.port}`, `socks5://127.0.0.1:${dante.port}`], [`http://127.0.0.1:${squid.port}`, `socks5://127.0.0.1:${dante.port}`]]) {
      const server = await startChained(urls);
      try {
        assert.equal((await roundTrip(server, echo.port))[1], 0);
      } finally {
        await server.close();
      }
    }
  });

  test('UDP ASSOCIATE through Dante: a datagram there and back', T, async () => {
    const udpEcho = await startUdpEchoServer();
    const server = await startChained([`socks5://127.0.0.1:${dante.port}`]);
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const { control, reply } = await associate(server);
      assert.equal(reply.reply, 0);
      const target = { type: 'ipv4', host: '127.0.0.1', port: udpEcho.port } as const;
      await client.send(wrap(target, 'through dante'), reply.address.port, '127.0.0.1');
      const back = unwrap((await client.nth(0, 10_000)).msg);
      assert.equal(back.payload.toString(), 'through dante');
      assert.deepEqual(back.address, target);
      control.socket.destroy();
    } finally {
      client.close();
      await udpEcho.stop();
      await server.close();
    }
  });

  test("BIND through Dante: the peer connects to Dante's address", T, async () => {
    const server = await startChained([`socks5://127.0.0.1:${dante.port}`]);
    try {
      const client = await server.client();
      await greet(client);
      client.socket.write(bindRequest5(ANY4));
      const first = await readReply(client, 5, 10_000);
      assert.equal(first.code, 0);
      const peer = await connectPeer(first.address);
      const second = await readReply(client, 5, 10_000);
      assert.equal(second.code, 0);
      assert.equal(second.address.port, peer.socket.localPort);
      peer.socket.end('hello from the peer');
      assert.equal((await client.end(10_000)).toString(), 'hello from the peer');
    } finally {
      await server.close();
    }
  });

  test('BIND and UDP through an HTTP upstream: 0x07, saying why', T, async () => {
    const server = await startChained([`http://127.0.0.1:${squid.port}`]);
    try {
      const client = await server.client();
      await greet(client);
      client.socket.write(bindRequest5(ANY4));
      assert.deepEqual((await readReply(client, 5)).bytes, hex('05 07 00 01 00000000 0000'));
      assert.deepEqual((await associate(server)).bytes, hex('05 07 00 01 00000000 0000'));
      assert.match((await server.record(0)).result, /BIND cannot go through the HTTP upstream default \(http:\/\/127\.0\.0\.1:\d+\): HTTP proxies tunnel CONNECT only/);
    } finally {
      await server.close();
    }
  });
});
