/** Datagrams the relay must not pass on (RFC 1928 §7): from another source IP, fragments, truncated or
 * malformed headers, and anything after the control connection ended; and the relay port closes within a
 * second of the TCP connection ending. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from '../../lib/codec/address.ts';
import { hex, sleep } from '../helpers/net.ts';
import { startSocksServer, type TestServer } from '../helpers/socks.ts';
import { associate, recordOf, startUdpEcho, TestUdp, unwrap, waitUntilFree, wrap } from './udp-helpers.ts';

const T = { timeout: 15_000 };
/** How long a datagram that would be relayed needs on loopback, with a wide margin. */
const SETTLE_MS = 150;

describe('UDP relay against hostile datagrams', () => {
  let server: TestServer;
  let echo: TestUdp;
  let dst: Address;
  before(async () => {
    server = await startSocksServer();
    echo = await startUdpEcho('127.0.0.1');
    dst = { type: 'ipv4', host: '127.0.0.1', port: echo.port };
  });
  after(async () => {
    await server.close();
    echo.close();
  });

  /** Runs `attack` against a fresh association, checks the echo saw nothing of it, then that the client's own
   * datagram still goes through; returns the connection record. */
  async function expectDropped(attack: (relayPort: number, client: TestUdp) => Promise<void>): Promise<Record<string, string | number>> {
    const { control, reply, client: from } = await associate(server);
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const seen = echo.received.length;
      await attack(reply.address.port, client);
      await sleep(SETTLE_MS);
      assert.equal(echo.received.length, seen, `relayed: ${echo.received.slice(seen).map((d) => d.msg.toString('hex')).join(' ')}`);
      await client.send(wrap(dst, 'legit'), reply.address.port, '127.0.0.1');
      const back = await client.nth(0);
      assert.equal(unwrap(back.msg).payload.toString(), 'legit');
    } finally {
      client.close();
      control.socket.destroy();
    }
    return (await recordOf(server, from)).udp?.drops ?? assert.fail('no UDP counters');
  }

  test('a datagram from another source IP (127.0.0.2) is dropped, and does not latch the association', T, async () => {
    const stranger = await TestUdp.bind('127.0.0.2');
    try {
      const extra = await expectDropped(async (port) => {
        await stranger.send(wrap(dst, 'from 127.0.0.2'), port, '127.0.0.1');
        await stranger.send(wrap(dst, 'again'), port, '127.0.0.1');
      });
      assert.equal(extra.source, 2);
      assert.equal(stranger.received.length, 0);
    } finally {
      stranger.close();
    }
  });

  test('FRAG = 1 and FRAG = 0x81 (a fragment, and the last of a sequence) are dropped: no reassembly', T, async () => {
    const extra = await expectDropped(async (port, client) => {
      await client.send(wrap(dst, 'fragment 1', 1), port, '127.0.0.1');
      await client.send(wrap(dst, 'fragment end', 0x81), port, '127.0.0.1');
    });
    assert.equal(extra.frag, 2);
  });

  const malformed: ReadonlyArray<readonly [string, Buffer]> = [
    ['an empty datagram', Buffer.alloc(0)],
    ['3 bytes', hex('00 00 00')],
    ['a truncated IPv4 header', hex('00 00 00 01 7f 00')],
    ['an IPv4 header without its port', hex('00 00 00 01 7f000001')],
    ['a truncated IPv6 header', hex('00 00 00 04 00000000')],
    ['a name longer than the datagram', hex('00 00 00 03 20 6162')],
    ['an empty name', hex('00 00 00 03 00 0035')],
    ['an unknown ATYP', hex('00 00 00 05 7f000001 0035 78')],
    ['non-zero RSV', hex('00 01 00 01 7f000001 0035 78')],
  ];
  for (const [name, datagram] of malformed) {
    test(`${name} is dropped as malformed (and sets no latch)`, T, async () => {
      // Sent from another port than the client's: had it latched, the client's own datagram would be dropped.
      const other = await TestUdp.bind('127.0.0.1');
      try {
        const extra = await expectDropped(async (port) => other.send(datagram, port, '127.0.0.1'));
        assert.equal(extra.malformed, 1);
      } finally {
        other.close();
      }
    });
  }

  test('port 0 as the target is dropped (bad-target)', T, async () => {
    const extra = await expectDropped(async (port, client) => client.send(wrap({ ...dst, port: 0 }, 'x'), port, '127.0.0.1'));
    assert.equal(extra['bad-target'], 1);
  });

  for (const how of ['closes', 'half-closes (FIN)', 'resets'] as const) {
    test(`after the client ${how} the control connection, the relay port is closed within a second and nothing more is relayed`, T, async () => {
      const { control, reply } = await associate(server);
      const client = await TestUdp.bind('127.0.0.1');
      try {
        await client.send(wrap(dst, 'before'), reply.address.port, '127.0.0.1');
        await client.nth(0);
        const seen = echo.received.length;
        if (how === 'closes') control.socket.destroy();
        else if (how === 'half-closes (FIN)') control.socket.end();
        else control.socket.resetAndDestroy();
        const tookMs = await waitUntilFree('127.0.0.1', reply.address.port, 1000);
        assert.ok(tookMs < 1000);
        await client.send(wrap(dst, 'after'), reply.address.port, '127.0.0.1');
        await sleep(SETTLE_MS);
        assert.equal(echo.received.length, seen, 'a datagram after the end was relayed');
        assert.equal(client.received.length, 1);
      } finally {
        client.close();
      }
    });
  }

  test('a reply too big to carry with its header back to the client is dropped (too-big); 65497 + 10 bytes still pass', T, async () => {
    const { control, reply, client: from } = await associate(server);
    const client = await TestUdp.bind('127.0.0.1');
    const target = await TestUdp.bind('127.0.0.1');
    try {
      await client.send(wrap({ type: 'ipv4', host: '127.0.0.1', port: target.port }, 'hi'), reply.address.port, '127.0.0.1');
      const relayed = await target.nth(0);
      // 65500 bytes + a 10-byte header is more than one IPv4 datagram carries (65507).
      await target.send(Buffer.alloc(65_500, 2), relayed.rinfo.port, relayed.rinfo.address);
      await target.send(Buffer.alloc(65_497, 3), relayed.rinfo.port, relayed.rinfo.address);
      const back = unwrap((await client.nth(0)).msg);
      assert.equal(back.payload.length, 65_497);
      assert.equal(back.payload[0], 3);
      await sleep(SETTLE_MS);
      assert.equal(client.received.length, 1);
    } finally {
      client.close();
      target.close();
      control.socket.destroy();
    }
    const udp = (await recordOf(server, from)).udp;
    assert.equal(udp?.datagramsDown, 1);
    assert.equal(udp.drops['too-big'], 1);
  });
});
