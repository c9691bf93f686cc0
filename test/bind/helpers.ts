/** BIND requests written with the codec, a raw BIND client that reads both replies, and the check that a
 * port no longer listens. Every wait has a limit. */

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { Address } from '../../lib/codec/address.ts';
import { Command } from '../../lib/codec/constants.ts';
import { decodeSocks4Reply, encodeSocks4Request } from '../../lib/codec/socks4.ts';
import { decodeReply, encodeRequest } from '../../lib/codec/socks5.ts';
import { Collector, connectTo, withTimeout, WAIT_MS } from '../helpers/net.ts';

export const ANY4: Address = { type: 'ipv4', host: '0.0.0.0', port: 0 };
export const ANY6: Address = { type: 'ipv6', host: '::', port: 0 };

export function bindRequest5(address: Address): Buffer {
  return encodeRequest({ command: Command.BIND, address });
}

export function bindRequest4(address: Address, userId = ''): Buffer {
  return encodeSocks4Request({ command: Command.BIND, address, userId });
}

/** A reply as the test sees it: the code and address, and the exact bytes. */
export interface SeenReply { readonly code: number; readonly address: Address; readonly bytes: Buffer }

/** Reads one reply in the session's version (10/22 bytes for SOCKS5, 8 for SOCKS4). */
export async function readReply(c: Collector, version: 4 | 5, timeoutMs = WAIT_MS): Promise<SeenReply> {
  if (version === 5) {
    const { value, bytes } = await c.read(decodeReply, timeoutMs);
    return { code: value.reply, address: value.address, bytes };
  }
  const { value, bytes } = await c.read(decodeSocks4Reply, timeoutMs);
  return { code: value.reply, address: { type: 'ipv4', host: value.host, port: value.port }, bytes };
}

export const portHex = (port: number): string => port.toString(16).padStart(4, '0');

/** The peer's side: a connection to the address the first reply announced. */
export async function connectPeer(address: Address, localAddress?: string): Promise<Collector> {
  if (localAddress === undefined) return new Collector(await connectTo(address.host, address.port));
  const socket = await withTimeout(new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: address.host, port: address.port, localAddress, allowHalfOpen: true });
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  }), WAIT_MS, `a peer connection to ${address.host}:${address.port}`);
  return new Collector(socket);
}

/** Asserts that nothing listens on host:port any more (the BIND port was freed), polling briefly: the
 * server closes its listener as soon as the wait ends, which may be a moment after the reply. */
export async function assertNotListening(host: string, port: number, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const outcome = await new Promise<string>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => { s.destroy(); resolve('connected'); });
      s.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    if (outcome === 'ECONNREFUSED') return;
    // A reset: the probe reached the backlog of a listener that was closing.
    assert.ok(outcome === 'connected' || outcome === 'ECONNRESET', `unexpected error probing ${host}:${port}: ${outcome}`);
    if (Date.now() >= deadline) assert.fail(`${host}:${port} still accepts connections after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
