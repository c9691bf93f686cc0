/** Rogue-server cases the client already handled when issue 11 was filed, pinned so they stay that way:
 * every prefix of every reply and then silence is a timeout; a reply with RSV≠0 or an unknown ATYP is a
 * protocol error; a datagram from anyone but the relay never reaches the caller. */

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { Address } from '../../lib/codec/address.ts';
import { openSession, type ClientOptions } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { openUdpSession } from '../../lib/client/udp.ts';
import { exitCodeFor, SocxError } from '../../lib/errors.ts';
import { deferred, hex, withRogue, withTimeout, type RoguePeer, type RogueServer } from '../helpers/net.ts';

const TARGET: Address = { type: 'ipv4', host: '127.0.0.1', port: 80 };
const T = { timeout: 10_000 };

function options(rogue: RogueServer, scheme: string, timeoutMs = 2000): ClientOptions {
  return { proxy: parseProxyUrl(`${scheme}://127.0.0.1:${rogue.port}`), timeoutMs };
}

async function failure(promise: Promise<{ socket: { destroy(): void } }>, limitMs = 3000): Promise<SocxError> {
  const outcome = await withTimeout(promise.then((s) => { s.socket.destroy(); return undefined; }, (error: unknown) => error), limitMs, 'the client to settle');
  assert.ok(outcome instanceof SocxError, `expected a SocxError, got ${String(outcome)}`);
  return outcome;
}

const SOCKS5_OK = hex('05 00 00 01 7f000001 1f90');
const SOCKS4_OK = hex('00 5a 1f90 7f000001');

describe('every prefix of every reply, then silence: a timeout (exit 1), never a hang or a success', () => {
  const cases: Array<{ what: string; scheme: string; script: (prefix: Buffer) => (peer: RoguePeer) => Promise<void>; whole: Buffer }> = [
    {
      what: 'SOCKS5 method selection', scheme: 'socks5', whole: hex('05 00'),
      script: (prefix) => async (peer) => { await peer.input.take(3); peer.socket.write(prefix); },
    },
    {
      what: 'SOCKS5 reply', scheme: 'socks5', whole: SOCKS5_OK,
      script: (prefix) => async (peer) => { await peer.input.take(3); peer.socket.write(hex('05 00')); await peer.input.take(10); peer.socket.write(prefix); },
    },
    {
      what: 'SOCKS4 reply', scheme: 'socks4', whole: SOCKS4_OK,
      script: (prefix) => async (peer) => { await peer.input.take(9); peer.socket.write(prefix); },
    },
  ];
  for (const c of cases) {
    test(`${c.what}: each of its ${c.whole.length} prefixes`, T, async () => {
      for (let n = 0; n < c.whole.length; n++) {
        await withRogue(c.script(c.whole.subarray(0, n)), async (rogue) => {
          const error = await failure(openSession('connect', TARGET, options(rogue, c.scheme, 150)));
          assert.equal(error.code, 'timeout', `prefix of ${n} bytes: ${error.message}`);
          assert.equal(exitCodeFor(error), 1);
        });
      }
    });
  }
});

describe('malformed replies: protocol errors, exit 1', () => {
  for (const [what, reply] of [
    ['RSV 0x01', hex('05 00 01 01 7f000001 1f90')],
    ['ATYP 0x02', hex('05 00 00 02 7f000001 1f90')],
    ['ATYP 0x05', hex('05 00 00 05 7f000001 1f90')],
  ] as const) {
    test(`a reply with ${what}`, T, async () => {
      await withRogue(async (peer) => { await peer.input.take(3); peer.socket.write(hex('05 00')); await peer.input.take(10); peer.socket.write(reply); }, async (rogue) => {
        const error = await failure(openSession('connect', TARGET, options(rogue, 'socks5')));
        assert.equal(error.code, 'protocol', error.message);
        assert.equal(exitCodeFor(error), 1);
      });
    });
  }
});

describe('UDP: datagrams from anyone but the relay', () => {
  test('a datagram from a foreign port never reaches the caller; the relay\'s own does', T, async () => {
    const relay = dgram.createSocket('udp4');
    const foreign = dgram.createSocket('udp4');
    await Promise.all([relay, foreign].map((s) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))));
    const clientAddress = deferred<{ address: string; port: number }>();
    relay.on('message', (_, from) => clientAddress.resolve(from));
    try {
      await withRogue(async (peer) => {
        await peer.input.take(3);
        peer.socket.write(hex('05 00'));
        await peer.input.take(10);
        const reply = Buffer.concat([hex('05 00 00 01 7f000001'), Buffer.alloc(2)]);
        reply.writeUInt16BE(relay.address().port, 8);
        peer.socket.write(reply);
      }, async (rogue) => {
        const session = await openUdpSession(options(rogue, 'socks5h'));
        try {
          const got: string[] = [];
          const second = deferred();
          session.onDatagram((payload) => { got.push(payload.toString()); second.resolve(); });
          session.send(TARGET, Buffer.from('hello'));
          const client = await withTimeout(clientAddress.promise, 3000, 'the first datagram at the relay');
          const datagram = (text: string) => Buffer.concat([hex('0000 00 01 7f000001 0050'), Buffer.from(text)]);
          // The foreign one goes first on loopback: had it been let through, it would be seen first.
          await new Promise<void>((resolve) => foreign.send(datagram('foreign'), client.port, client.address, () => resolve()));
          relay.send(datagram('from the relay'), client.port, client.address);
          await withTimeout(second.promise, 3000, "the relay's datagram");
          assert.deepEqual(got, ['from the relay']);
        } finally {
          session.close();
        }
      });
    } finally {
      relay.close();
      foreign.close();
    }
  });
});
