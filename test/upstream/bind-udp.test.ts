/** BIND and UDP ASSOCIATE through an upstream: the upstream's addresses reach our client (the peer connects to
 * the upstream, datagrams go through the upstream's relay), and 0x07 where an upstream cannot carry them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hex } from '../helpers/net.ts';
import { greet, startSocksServer } from '../helpers/socks.ts';
import { ANY4, bindRequest5, connectPeer, portHex, readReply } from '../bind/helpers.ts';
import { associate, startUdpEcho, TestUdp, unwrap, wrap } from '../udp/udp-helpers.ts';
import { socksUrl, startChained } from './helpers.ts';

const T = { timeout: 15_000 };

describe('BIND through an upstream', () => {
  test('the first reply is the upstream\'s listening address, the second its peer; data both ways', T, async () => {
    const upstream = await startSocksServer();
    const server = await startChained([socksUrl(upstream)]);
    try {
      const client = await server.client();
      await greet(client);
      client.socket.write(bindRequest5(ANY4));
      const first = await readReply(client, 5);
      assert.equal(first.code, 0);
      const peer = await connectPeer(first.address);
      const second = await readReply(client, 5);
      assert.deepEqual(second.bytes, hex(`05 00 00 01 7f000001 ${portHex(peer.socket.localPort ?? 0)}`));
      client.socket.write('to the peer');
      assert.equal((await peer.take(11)).toString(), 'to the peer');
      peer.socket.end('to the client');
      assert.equal((await client.end()).toString(), 'to the client');
      client.socket.end();
      const record = await server.record(0);
      assert.equal(record.upstream, 'default');
      assert.equal(record.outcome, 'ok');
      // The port the peer reached is the upstream's, not one of ours.
      assert.equal((await upstream.record(0)).bound, `127.0.0.1:${first.address.port}`);
    } finally {
      await server.close();
      await upstream.close();
    }
  });

  test("an upstream's refusal of the BIND reaches the client as its code", T, async () => {
    const upstream = await startSocksServer({ commands: {} });
    const server = await startChained([socksUrl(upstream)]);
    try {
      const client = await server.client();
      await greet(client);
      client.socket.write(bindRequest5(ANY4));
      assert.deepEqual((await readReply(client, 5)).bytes, hex('05 07 00 01 00000000 0000'));
    } finally {
      await server.close();
      await upstream.close();
    }
  });

  test('a SOCKS4 upstream takes the BIND too (SOCKS4 has BIND)', T, async () => {
    const upstream = await startSocksServer();
    const server = await startChained([socksUrl(upstream, 'socks4')]);
    try {
      const client = await server.client();
      await greet(client);
      client.socket.write(bindRequest5(ANY4));
      const first = await readReply(client, 5);
      assert.equal(first.code, 0);
      const peer = await connectPeer(first.address);
      assert.equal((await readReply(client, 5)).code, 0);
      peer.socket.destroy();
    } finally {
      await server.close();
      await upstream.close();
    }
  });
});

describe('UDP ASSOCIATE through an upstream', () => {
  test('datagrams go through the upstream relay both ways; the reply names the target', T, async () => {
    const echo = await startUdpEcho('127.0.0.1');
    const upstream = await startSocksServer();
    const server = await startChained([socksUrl(upstream)]);
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const { control, reply } = await associate(server);
      assert.equal(reply.reply, 0);
      const target = { type: 'ipv4', host: '127.0.0.1', port: echo.port } as const;
      await client.send(wrap(target, 'ping'), reply.address.port, '127.0.0.1');
      const back = unwrap((await client.nth(0)).msg);
      assert.equal(back.payload.toString(), 'ping');
      assert.deepEqual(back.address, target);
      control.socket.destroy();
      const upstreamRecord = await upstream.record(0);
      assert.equal(upstreamRecord.command, 'udp');
      assert.equal(upstreamRecord.udp?.datagramsUp, 1);
      const record = await server.record(0);
      assert.equal(record.upstream, 'default');
      assert.equal(record.udp?.datagramsUp, 1);
      assert.equal(record.udp?.datagramsDown, 1);
    } finally {
      client.close();
      echo.close();
      await server.close();
      await upstream.close();
    }
  });

  test('via=direct datagrams skip the upstream', T, async () => {
    const echo = await startUdpEcho('127.0.0.1');
    const upstream = await startSocksServer();
    const server = await startChained([socksUrl(upstream)], {}, [`allow cmd=udp port=${echo.port} via=direct`]);
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const { control, reply } = await associate(server);
      await client.send(wrap({ type: 'ipv4', host: '127.0.0.1', port: echo.port }, 'direct'), reply.address.port, '127.0.0.1');
      assert.equal(unwrap((await client.nth(0)).msg).payload.toString(), 'direct');
      control.socket.destroy();
      assert.equal((await upstream.record(0)).udp?.datagramsUp, 0, 'the upstream relayed nothing');
    } finally {
      client.close();
      echo.close();
      await server.close();
      await upstream.close();
    }
  });

  for (const { title, upstreams, other, direct } of [
    { title: 'datagrams a rule routes to another upstream are dropped (drop_route), not sent direct', upstreams: (url: string) => [url, `lab=${url}`], other: 'through the default upstream', direct: false },
    { title: 'with no default upstream, datagrams a rule routes to a named one are dropped, not sent direct', upstreams: (url: string) => [`lab=${url}`], other: 'direct', direct: true },
  ]) {
    test(title, T, async () => {
      const [echo, elsewhere] = [await startUdpEcho('127.0.0.1'), await startUdpEcho('127.0.0.1')];
      const upstream = await startSocksServer();
      const server = await startChained(upstreams(socksUrl(upstream)), {}, [`allow cmd=udp port=${echo.port} via=lab`]);
      const client = await TestUdp.bind('127.0.0.1');
      try {
        const { control, reply } = await associate(server);
        await client.send(wrap({ type: 'ipv4', host: '127.0.0.1', port: echo.port }, 'routed'), reply.address.port, '127.0.0.1');
        // The relay handles datagrams in order: once the second is back, the first has been dealt with.
        await client.send(wrap({ type: 'ipv4', host: '127.0.0.1', port: elsewhere.port }, other), reply.address.port, '127.0.0.1');
        assert.equal(unwrap((await client.nth(0)).msg).payload.toString(), other);
        control.socket.destroy();
        const record = await server.record(0);
        if (direct) assert.equal(record.upstream, undefined, 'the association itself is direct');
        assert.equal(record.udp?.drops.route, 1);
        assert.equal(record.udp?.datagramsUp, 1);
        assert.equal(echo.received.length, 0);
      } finally {
        client.close();
        echo.close();
        elsewhere.close();
        await server.close();
        await upstream.close();
      }
    });
  }

  for (const [name, urls] of [
    ['a SOCKS4 upstream', (port: number) => [`socks4://127.0.0.1:${port}`]],
    ['a chain of two', (port: number) => [`socks5://127.0.0.1:${port}`, `socks5://127.0.0.1:${port}`]],
  ] as const) {
    test(`through ${name}: 0x07, command not supported`, T, async () => {
      const upstream = await startSocksServer();
      const server = await startChained(urls(upstream.port));
      try {
        const { bytes } = await associate(server);
        assert.deepEqual(bytes, hex('05 07 00 01 00000000 0000'));
        assert.match((await server.record(0)).result, /cannot go through/);
      } finally {
        await server.close();
        await upstream.close();
      }
    });
  }
});
