import dgram, { type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSession } from '../client/client.ts';
import { formatAddress, isUnspecified, toAddress, type Address } from '../codec/address.ts';
import { Command, Reply } from '../codec/constants.ts';
import { canonicalIp } from '../codec/ip.ts';
import { decodeReply, decodeUdpDatagram, encodeUdpDatagram, type Socks5Reply } from '../codec/socks5.ts';
import { dialTcp } from '../dial.ts';
import { describeReply, SocxError } from '../errors.ts';
import { hexBytes } from './bytes.ts';
import { payload, showReply, socks5Request } from './conformance-session.ts';
import { fail, notApplicable, pass, type ConformanceContext, type Outcome } from './conformance-types.ts';
import { errorText } from './detect.ts';
import type { Read, Wire } from './wire.ts';

/** RFC 1928 §4 BIND: the first reply names where the proxy listens; when a peer connects there, a second
 * reply names the peer. With `expected` other than where our peer comes from, the proxy should refuse it. */
async function bindAndConnect(context: ConformanceContext, expected: Address): Promise<Outcome | { first: string; second: Awaited<ReturnType<typeof readSecond>>; peer: { host: string; port: number } }> {
  const attempt = await socks5Request(context, Command.BIND, expected);
  if (typeof attempt === 'string') return notApplicable(attempt);
  const { wire, reply } = attempt;
  try {
    // Not granted, in whatever way: there is no BIND to check (socks5-unknown-command and
    // socks5-refusal-complete judge refusals without their reply).
    if (!reply.ok) return notApplicable(`BIND not granted: ${reply.text}`);
    if (reply.value.reply !== Reply.SUCCEEDED) return notApplicable(`BIND refused: ${showReply(reply)}`);
    const announced = isUnspecified(reply.value.address) ? toAddress(context.proxy.host, reply.value.address.port) : reply.value.address;
    let peer;
    try {
      peer = await dialTcp(announced.host, announced.port, { timeoutMs: context.timeoutMs });
    } catch (error) {
      return fail(`first reply ${hexBytes(reply.bytes)}, but ${formatAddress(announced)} does not accept: ${errorText(error)}`);
    }
    try {
      const from = { host: canonicalIp(peer.localAddress ?? ''), port: peer.localPort ?? 0 };
      return { first: hexBytes(reply.bytes), second: await readSecond(wire), peer: from };
    } finally {
      peer.destroy();
    }
  } finally {
    wire.destroy();
  }
}

function readSecond(wire: Wire): Promise<Read<Socks5Reply>> {
  return wire.read(decodeReply);
}

export async function bindSecondReply(context: ConformanceContext): Promise<Outcome> {
  const done = await bindAndConnect(context, toAddress(context.targets.host, 0));
  if ('result' in done) return done;
  const { first, second, peer } = done;
  if (!second.ok) return fail(`first reply ${first}; after our peer connected from ${formatAddress(peer)}: ${second.text}`);
  if (second.value.reply !== Reply.SUCCEEDED) return fail(`first reply ${first}; second reply refused our peer: ${showReply(second)}`);
  const named = second.value.address;
  const right = canonicalIp(named.host) === peer.host && named.port === peer.port;
  const evidence = `first ${first}; second ${hexBytes(second.bytes)} for a peer from ${formatAddress(peer)}`;
  return right ? pass(evidence) : fail(`${evidence}: the second reply names ${formatAddress(named)}`);
}

/** BIND naming 127.0.0.2 as the peer; ours connects from 127.0.0.1. The SOCKS4 paper says the server checks
 * the peer's address and refuses a mismatch; RFC 1928 §4 says it "will typically evaluate" DST.ADDR. */
export async function bindPeerCheck(context: ConformanceContext): Promise<Outcome> {
  if (!context.targets.host.startsWith('127.')) return notApplicable('needs an IPv4 loopback proxy (a peer from 127.0.0.1 that is not 127.0.0.2)');
  const done = await bindAndConnect(context, toAddress('127.0.0.2', 0));
  if ('result' in done) return done;
  const { first, second, peer } = done;
  if (second.ok && second.value.reply === Reply.SUCCEEDED) return fail(`BIND for a peer at 127.0.0.2 (first ${first}) accepted ours from ${formatAddress(peer)}: ${hexBytes(second.bytes)}`);
  return pass(`BIND for 127.0.0.2, our peer from ${peer.host}: ${second.ok ? showReply(second) : second.text}`);
}

interface Association {
  readonly udp: UdpSocket;
  readonly relay: { host: string; port: number };
  readonly echo: Address;
  /** Ends the association's TCP connection only: the UDP socket stays, to go on sending. */
  closeControl(): void;
  close(): void;
  /** Sends `data` to the UDP echo through the relay (with `frag`) until it comes back or the time runs out. */
  roundTrip(data: Buffer): Promise<boolean>;
}

/** UDP ASSOCIATE announcing our real UDP address (RFC 1928 §6 lets the server hold the client to it), from a
 * UDP socket connected to the relay. */
async function associate(context: ConformanceContext): Promise<Association | Outcome> {
  if ('reason' in context.socks5) return notApplicable(context.socks5.reason);
  const { targets, timeoutMs } = context;
  const udp = await bindUdp(targets.host);
  const local = udp.address();
  let control;
  try {
    const proxy = { ...context.proxy, version: 5 as const, remoteDns: true, ...(context.socks5.method === 0 ? { username: undefined, password: undefined } : {}) };
    control = await openSession('udp', toAddress(local.address, local.port), { proxy, timeoutMs });
  } catch (error) {
    udp.close();
    // Not granted, in whatever way: no association to check (as for BIND).
    if (error instanceof SocxError && error.code === 'request-rejected' && error.reply) return notApplicable(`UDP ASSOCIATE refused: ${describeReply(error.reply)}`);
    return notApplicable(`UDP ASSOCIATE not granted: ${errorText(error)}`);
  }
  const bound = control.bound;
  const relay = { host: isUnspecified(bound) ? canonicalIp(control.socket.remoteAddress ?? context.proxy.host) : bound.host, port: bound.port };
  const echo = toAddress(targets.host, targets.udpPort);
  const replies = new Set<string>();
  udp.on('message', (message) => {
    try {
      const decoded = decodeUdpDatagram(message);
      if (decoded.done) replies.add(Buffer.from(decoded.value.payload).toString('hex'));
    } catch {
      // not a datagram from the relay
    }
  });
  udp.on('error', () => {});
  control.socket.on('error', () => {});
  control.socket.resume();
  try {
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.connect(relay.port, relay.host, () => { udp.off('error', reject); resolve(); });
    });
  } catch (error) {
    udp.close();
    control.socket.destroy();
    return fail(`the relay ${formatAddress(relay)} cannot be reached: ${errorText(error)}`);
  }
  return {
    udp, relay, echo,
    closeControl: () => control.socket.destroy(),
    close: () => { control.socket.destroy(); try { udp.close(); } catch { /* closed */ } },
    async roundTrip(data) {
      const key = data.toString('hex');
      for (let i = 0; i < 4 && !replies.has(key); i++) {
        udp.send(encodeUdpDatagram({ frag: 0, address: echo, payload: data }));
        for (let waited = 0; waited < timeoutMs / 4 && !replies.has(key); waited += 20) await sleep(20);
      }
      return replies.has(key);
    },
  };
}

function bindUdp(host: string): Promise<UdpSocket> {
  const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port: 0 }, () => { socket.off('error', reject); resolve(socket); });
  });
}

/** RFC 1928 §7: "An implementation that does not support fragmentation MUST drop any datagram whose FRAG
 * field is other than X'00'." A FRAG 1 datagram, then a FRAG 0 one: once the second is back, the echo must
 * not have seen the first (loopback keeps their order). */
export async function udpFragDropped(context: ConformanceContext): Promise<Outcome> {
  const association = await associate(context);
  if ('result' in association) return association;
  try {
    const fragment = payload('frag 1');
    association.udp.send(encodeUdpDatagram({ frag: 1, address: association.echo, payload: fragment }));
    const whole = payload('frag 0');
    if (!await association.roundTrip(whole)) return notApplicable(`the relay ${formatAddress(association.relay)} carried no datagram at all`);
    return context.targets.udpSaw(fragment) ? fail('a FRAG 01 datagram was relayed to the target') : pass('FRAG 01 dropped; FRAG 00 relayed');
  } finally {
    association.close();
  }
}

/** RFC 1928 §7: the relay "MUST drop datagrams from any source IP address other than the one recorded for
 * the particular association" — here 127.0.0.2, between two datagrams from us. */
export async function udpForeignSource(context: ConformanceContext): Promise<Outcome> {
  if (!context.targets.host.startsWith('127.')) return notApplicable('needs an IPv4 loopback proxy (a second source address, 127.0.0.2)');
  const association = await associate(context);
  if ('result' in association) return association;
  const foreign = await bindUdp('127.0.0.2').catch(() => undefined);
  try {
    if (!foreign) return notApplicable('cannot bind 127.0.0.2');
    if (!await association.roundTrip(payload('first'))) return notApplicable(`the relay ${formatAddress(association.relay)} carried no datagram at all`);
    const stranger = payload('foreign');
    foreign.send(encodeUdpDatagram({ frag: 0, address: association.echo, payload: stranger }), association.relay.port, association.relay.host);
    if (!await association.roundTrip(payload('second'))) return notApplicable('the relay stopped carrying our datagrams');
    return context.targets.udpSaw(stranger) ? fail('a datagram from 127.0.0.2 was relayed into our association') : pass('a datagram from 127.0.0.2 was dropped; ours before and after were relayed');
  } finally {
    foreign?.close();
    association.close();
  }
}

/** RFC 1928 §7: "A UDP association terminates when the TCP connection that the UDP ASSOCIATE request arrived
 * on terminates." After the TCP close, datagrams go on for `timeoutMs`; the relay must stop carrying them
 * (or close its port: our connected socket then sees ICMP port unreachable) within the first half. */
export async function udpClosedWithTcp(context: ConformanceContext): Promise<Outcome> {
  const association = await associate(context);
  if ('result' in association) return association;
  const { udp, echo } = association;
  try {
    if (!await association.roundTrip(payload('before close'))) return notApplicable(`the relay ${formatAddress(association.relay)} carried no datagram at all`);
    let refusedAfter: number | undefined;
    const started = Date.now();
    udp.on('error', () => { refusedAfter ??= Date.now() - started; });
    association.closeControl();
    const sent: Array<{ at: number; data: Buffer }> = [];
    while (Date.now() - started < context.timeoutMs && refusedAfter === undefined) {
      const data = payload('after close');
      sent.push({ at: Date.now() - started, data });
      udp.send(encodeUdpDatagram({ frag: 0, address: echo, payload: data }));
      await sleep(100);
    }
    if (refusedAfter !== undefined) return pass(`the relay port closed (ICMP port unreachable) ${refusedAfter} ms after the TCP connection`);
    const late = sent.filter((item) => item.at >= context.timeoutMs / 2 && context.targets.udpSaw(item.data));
    if (late.length > 0) return fail(`still relaying ${late.at(-1)?.at ?? 0} ms after the TCP connection closed`);
    const last = sent.filter((item) => context.targets.udpSaw(item.data)).at(-1);
    return pass(last ? `stopped relaying within ${last.at + 100} ms of the TCP close` : 'nothing relayed after the TCP close');
  } finally {
    association.close();
  }
}
