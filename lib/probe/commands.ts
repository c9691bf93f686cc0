import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { acceptPeer, requestBind } from '../client/bind.ts';
import { openSession, type ClientOptions } from '../client/client.ts';
import { openUdpSession } from '../client/udp.ts';
import { formatAddress, isUnspecified, type Address } from '../codec/address.ts';
import { Method, replyName, socks4ReplyName } from '../codec/constants.ts';
import { dialTcp } from '../dial.ts';
import { SocxError, describeReply } from '../errors.ts';
import { escapeText, hexBytes } from './bytes.ts';
import { elapsedMs, startClock } from './clock.ts';
import { errorText } from './detect.ts';
import { awaitBytes, tappedDial } from './exchange.ts';

/** 'refused': the proxy answered no (or said yes and carried nothing); 'timeout': it never answered. */
export type CommandStatus = 'ok' | 'refused' | 'timeout' | 'untested';

export interface CommandDetail {
  readonly status: CommandStatus;
  /** Why it was refused or untested. */
  readonly reason?: string;
  /** From opening the connection to the proxy to its (first) reply. */
  readonly latencyMs?: number;
  /** The data round trip through the granted connection or association. */
  readonly roundTripMs?: number;
  /** The reply, as the RFC names it, with its code: "connection refused (SOCKS5 reply 0x05)". */
  readonly reply?: string;
  /** BND.ADDR:PORT of the first reply (a name in it escaped). */
  readonly bound?: string;
  /** The proxy replied success, whatever happened to the data after. */
  readonly granted?: boolean;
}

export interface CommandCheck {
  readonly detail: CommandDetail;
  readonly findings: readonly string[];
}

/** Where the round trip goes: our own echo (the bytes must come back as sent, and the echo counts the
 * connections it accepts) or a remote service (any byte back will do). */
export interface ConnectTarget {
  readonly address: Address;
  /** TCP connections the local echo has accepted so far; undefined for a remote target. */
  readonly connections?: () => number;
}

/** For a remote target: harmless to most services, and HTTP servers (the likeliest target) answer it. */
export const REMOTE_PROBE = Buffer.from('HEAD / HTTP/1.0\r\n\r\n');

/** CONNECT, then a data round trip: a success reply alone proves nothing (some proxies reply before connecting). */
export async function checkConnect(target: ConnectTarget, client: ClientOptions, replyOnly = false): Promise<CommandCheck> {
  const tap = tappedDial(client.dial);
  const before = target.connections?.();
  const clock = startClock();
  let session;
  try {
    session = await openSession('connect', target.address, { ...client, dial: tap.dial });
  } catch (error) {
    return refusal('CONNECT', error, tap.received(), client);
  }
  const latencyMs = elapsedMs(clock);
  const bound = shownAddress(session.bound);
  try {
    if (replyOnly) return { detail: { status: 'ok', latencyMs, bound, granted: true }, findings: [] };
    const local = target.connections !== undefined;
    const payload = local ? Buffer.concat([Buffer.from('socx-probe '), randomBytes(16)]) : REMOTE_PROBE;
    const trip = startClock();
    session.socket.write(payload);
    const exchange = await awaitBytes(session.socket, session.head, local ? payload : undefined, client.timeoutMs);
    if (exchange.ok) return { detail: { status: 'ok', latencyMs, roundTripMs: elapsedMs(trip), bound, granted: true }, findings: [] };
    const reached = before === undefined || target.connections === undefined ? undefined : target.connections() > before;
    const why = reached === false
      ? `no data came back: the proxy answered success without connecting to ${formatAddress(target.address)} (${exchange.reason})`
      : reached ? `the proxy connected to ${formatAddress(target.address)} but ${exchange.reason}` : exchange.reason;
    return {
      detail: { status: 'refused', reason: why, latencyMs, bound, granted: true },
      findings: [reached === false ? 'CONNECT: success replied without connecting: the target never saw a connection and no data came back' : `CONNECT: success replied, but no data round trip: ${exchange.reason}`],
    };
  } finally {
    session.socket.destroy();
  }
}

/** CONNECT to a port where nothing listens: a proxy that replies success there replies before connecting. */
export async function checkClosedPort(target: Address, client: ClientOptions): Promise<readonly string[]> {
  const { detail, findings } = await checkConnect({ address: target }, client, true);
  if (detail.status === 'ok') return [`success replied before connecting: CONNECT to ${formatAddress(target)}, where nothing listens, got success`];
  return findings;
}

/** BIND (RFC 1928 §4): the first reply names where to connect; the probe connects there itself, checks the
 * second reply, and sends data each way. */
export async function checkBind(expectedPeer: Address, client: ClientOptions): Promise<CommandCheck> {
  const tap = tappedDial(client.dial);
  const clock = startClock();
  let pending;
  try {
    pending = await requestBind(expectedPeer, { ...client, dial: tap.dial });
  } catch (error) {
    return refusal('BIND', error, tap.received(), client);
  }
  const latencyMs = elapsedMs(clock);
  const announced = pending.session.bound;
  const bound = shownAddress(announced);
  const findings = isUnspecified(announced) ? [`BIND reply names ${announced.host} as BND.ADDR: clients on other hosts cannot tell their peer where to connect`] : [];
  const untested = (reason: string, status: CommandStatus = 'refused'): CommandCheck => ({ detail: { status, reason, latencyMs, bound, granted: true }, findings });
  let peer;
  try {
    peer = await dialTcp(pending.address.host, pending.address.port, { timeoutMs: client.timeoutMs });
  } catch (error) {
    pending.session.socket.destroy();
    return untested(`cannot connect to the announced address ${shownAddress(pending.address)}: ${errorText(error)}`);
  }
  try {
    const trip = startClock();
    const toClient = Buffer.concat([Buffer.from('socx-probe peer '), randomBytes(8)]);
    peer.write(toClient);
    let accepted;
    try {
      accepted = await acceptPeer(pending, client, client.timeoutMs);
    } catch (error) {
      return untested(`no second reply after connecting to ${shownAddress(pending.address)}: ${errorText(error)}`, timedOut(error) ? 'timeout' : 'refused');
    }
    const inbound = await awaitBytes(accepted.socket, accepted.head, toClient, client.timeoutMs);
    if (!inbound.ok) return untested(`second reply came, but the peer's data did not: ${inbound.reason}`);
    const toPeer = Buffer.concat([Buffer.from('socx-probe client '), randomBytes(8)]);
    accepted.socket.write(toPeer);
    const outbound = await awaitBytes(peer, Buffer.alloc(0), toPeer, client.timeoutMs);
    if (!outbound.ok) return untested(`the peer did not receive the client's data: ${outbound.reason}`);
    return { detail: { status: 'ok', latencyMs, roundTripMs: elapsedMs(trip), bound, granted: true }, findings };
  } finally {
    peer.destroy();
    pending.session.socket.destroy();
  }
}

/** UDP ASSOCIATE (RFC 1928 §7), then datagrams to our UDP echo through the relay until one comes back. */
export async function checkUdp(target: Address, client: ClientOptions): Promise<CommandCheck> {
  const tap = tappedDial(client.dial);
  const clock = startClock();
  let session;
  try {
    session = await openUdpSession({ ...client, dial: tap.dial });
  } catch (error) {
    return refusal('UDP ASSOCIATE', error, tap.received(), client);
  }
  const latencyMs = elapsedMs(clock);
  const bound = shownAddress(session.bound);
  const findings = isUnspecified(session.bound) ? [`UDP ASSOCIATE reply names ${session.bound.host} as the relay address: clients on other hosts cannot reach the relay`] : [];
  try {
    const payload = Buffer.concat([Buffer.from('socx-probe udp '), randomBytes(8)]);
    const trip = startClock();
    const stop = new AbortController();
    const back = new Promise<boolean>((resolve) => {
      session.onDatagram((reply) => { if (reply.equals(payload)) resolve(true); });
      void session.closed.then(() => resolve(false));
      setTimeout(() => resolve(false), client.timeoutMs).unref();
    });
    // UDP may drop a datagram: send a few times within the limit.
    void (async () => {
      for (let i = 0; i < 4 && !stop.signal.aborted; i++) {
        session.send(target, payload);
        await sleep(client.timeoutMs / 4, undefined, { signal: stop.signal }).catch(() => {});
      }
    })();
    const ok = await back;
    stop.abort();
    if (ok) return { detail: { status: 'ok', latencyMs, roundTripMs: elapsedMs(trip), bound, granted: true }, findings };
    // The relay never answering is a timeout; the proxy ending the association is a no.
    const reason = session.closeReason ?? `no datagram came back from ${formatAddress(target)} through the relay at ${formatAddress(session.relay)} within ${client.timeoutMs} ms`;
    return { detail: { status: session.closeReason === undefined ? 'timeout' : 'refused', reason, latencyMs, bound, granted: true }, findings };
  } finally {
    session.close();
  }
}

/** A failed request: the reply's name when there was one, else what happened instead, and a finding when the
 * proxy cut its reply short (RFC 1928 §6 replies have at least 10 bytes; SOCKS4's have 8). */
function refusal(command: string, error: unknown, received: Buffer, client: ClientOptions): CommandCheck {
  if (error instanceof SocxError && error.code === 'request-rejected' && error.reply) {
    const name = error.reply.version === 5 ? replyName(error.reply.code) : socks4ReplyName(error.reply.code);
    return { detail: { status: 'refused', reason: name, reply: describeReply(error.reply) }, findings: [] };
  }
  const findings: string[] = [];
  const version = client.proxy.kind === 'socks' ? client.proxy.version : undefined;
  if (error instanceof SocxError && error.code === 'proxy-closed' && error.phase === 'request') {
    const partial = version === 5 ? received.subarray(received[1] === Method.USERPASS ? 4 : 2) : received;
    const full = version === 5 ? 10 : 8;
    if (partial.length > 0 && version === 4 && partial[0] === 0x05) {
      return { detail: { status: 'refused', reason: `it answered the SOCKS4 request in SOCKS5 (${hexBytes(partial)}): no SOCKS4` }, findings };
    }
    if (partial.length > 0) {
      const bytes = hexBytes(partial);
      findings.push(`short error reply to ${command}: ${partial.length} bytes (${bytes}) and then closed, where a complete reply has ${full}`);
      const code = partial[1];
      const reason = code === undefined ? `the proxy sent ${partial.length} byte(s) of a reply and closed` : `${version === 5 ? replyName(code) : socks4ReplyName(code)} (short reply)`;
      return { detail: { status: 'refused', reason }, findings };
    }
    return { detail: { status: 'refused', reason: 'the proxy closed the connection without replying' }, findings };
  }
  return { detail: { status: timedOut(error) ? 'timeout' : 'refused', reason: errorText(error) }, findings };
}

function timedOut(error: unknown): boolean {
  return error instanceof SocxError && error.code === 'timeout';
}

/** host:port with a name from the proxy escaped: it is the peer's text. */
function shownAddress(address: Address): string {
  return formatAddress(address.type === 'domain' ? { host: escapeText(address.host), port: address.port } : address);
}

export function untested(reason: string): CommandCheck {
  return { detail: { status: 'untested', reason }, findings: [] };
}
