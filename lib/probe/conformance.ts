import { describeProxy, type ProxyConfig } from '../client/proxy-url.ts';
import { toAddress } from '../codec/address.ts';
import { Command } from '../codec/constants.ts';
import { canonicalIp } from '../codec/ip.ts';
import { handshakeDeadline } from './conformance-deadline.ts';
import { bindPeerCheck, bindSecondReply, udpClosedWithTcp, udpForeignSource, udpFragDropped } from './conformance-bind-udp.ts';
import { socks4aName, socks4NoSuccessForRefused, socks4RefusalComplete, socks4RefusedTarget, userpassFailureCloses, userpassSuccess } from './conformance-auth-socks4.ts';
import { dataBehindRequest, halfCloseClientFirst, halfCloseTargetFirst } from './conformance-relay.ts';
import { socks4Request, socks5Access } from './conformance-session.ts';
import {
  domainLength, greetingSplit, ipv6Target, noAcceptableMethod, noSuccessForRefused, offeredMethodOnly, pipelinedRequest, refusalComplete,
  refusedTarget, reservedNonzero, unknownAddressType, unknownCommand,
} from './conformance-socks5.ts';
import type { ConformanceCheck, ConformanceContext, Outcome } from './conformance-types.ts';
import { reach } from './detect.ts';
import { startTargets } from './targets.ts';
import { startTokenTarget } from './token-target.ts';

export interface ConformanceOptions {
  readonly proxy: ProxyConfig;
  /** Bound on each step, as for `probe`. */
  readonly timeoutMs: number;
  /** The longest a stalled handshake may stay open; 0 skips that check. */
  readonly deadlineMs: number;
  readonly onProgress?: (text: string) => void;
}

export interface ConformanceReport {
  readonly proxy: string;
  readonly reachable: boolean;
  /** Why not, when unreachable. */
  readonly reason?: string;
  readonly checks: readonly ConformanceCheck[];
  readonly summary: { readonly pass: number; readonly fail: number; readonly 'n/a': number };
}

type Run = (context: ConformanceContext, shared: Shared) => Promise<Outcome> | Outcome;

/** Replies that more than one check reads come from one request. */
interface Shared {
  readonly socks5Refused: ReturnType<typeof refusedTarget>;
  readonly socks4Refused: ReturnType<typeof socks4RefusedTarget>;
}

/** Every check, in the order of the report: its id, the section it rests on, what it asks. */
export const CHECKS: ReadonlyArray<{ readonly id: string; readonly rfc: string; readonly title: string; readonly run: Run }> = [
  { id: 'socks5-no-acceptable-method', rfc: 'RFC 1928 §3', title: 'an unknown method offered alone gets 05 FF', run: noAcceptableMethod },
  { id: 'socks5-offered-method-only', rfc: 'RFC 1928 §3', title: 'the chosen method is one that was offered', run: offeredMethodOnly },
  { id: 'socks5-greeting-split', rfc: 'RFC 1928 §3', title: 'a greeting sent a byte at a time is answered once whole', run: greetingSplit },
  { id: 'socks5-refusal-complete', rfc: 'RFC 1928 §6', title: 'a refusal is a complete reply (10 bytes for IPv4)', run: async (_, shared) => refusalComplete(await shared.socks5Refused) },
  { id: 'socks5-no-success-for-refused-target', rfc: 'RFC 1928 §6', title: 'no success for a target that refused (reply after the connect)', run: async (_, shared) => noSuccessForRefused(await shared.socks5Refused) },
  { id: 'socks5-unknown-command', rfc: 'RFC 1928 §4, §6', title: 'an unknown CMD gets a complete refusal (X\'07\')', run: unknownCommand },
  { id: 'socks5-unknown-address-type', rfc: 'RFC 1928 §5, §6', title: 'an unknown ATYP gets a complete refusal (X\'08\')', run: unknownAddressType },
  { id: 'socks5-reserved-nonzero', rfc: 'RFC 1928 §4', title: 'RSV ≠ 00 is ignored or refused, never left unanswered', run: reservedNonzero },
  { id: 'socks5-domain-1-byte', rfc: 'RFC 1928 §5', title: 'a 1-byte DOMAINNAME is read right', run: (context) => domainLength(context, 1) },
  { id: 'socks5-domain-255-bytes', rfc: 'RFC 1928 §5', title: 'a 255-byte DOMAINNAME is read right', run: (context) => domainLength(context, 255) },
  { id: 'socks5-ipv6-target', rfc: 'RFC 1928 §5', title: 'CONNECT to an IPv6 address carries data', run: ipv6Target },
  { id: 'socks5-pipelined', rfc: 'RFC 1928 §4, §6', title: 'greeting, request and data in one write all work', run: pipelinedRequest },
  { id: 'socks5-data-behind-request', rfc: 'RFC 1928 §6', title: 'bytes sent right behind the request reach the target', run: dataBehindRequest },
  { id: 'relay-half-close-client-first', rfc: 'RFC 1928 §6; RFC 9293 §3.6', title: 'the client\'s FIN is carried and the target can still answer', run: halfCloseClientFirst },
  { id: 'relay-half-close-target-first', rfc: 'RFC 1928 §6; RFC 9293 §3.6', title: 'the target\'s FIN is carried and the client can still send', run: halfCloseTargetFirst },
  { id: 'bind-second-reply', rfc: 'RFC 1928 §4', title: 'BIND\'s second reply names the peer that connected', run: bindSecondReply },
  { id: 'bind-peer-check', rfc: 'RFC 1928 §4; SOCKS4 BIND', title: 'BIND refuses a peer other than DST.ADDR', run: bindPeerCheck },
  { id: 'udp-frag-dropped', rfc: 'RFC 1928 §7', title: 'a datagram with FRAG ≠ 00 is dropped', run: udpFragDropped },
  { id: 'udp-foreign-source-dropped', rfc: 'RFC 1928 §7', title: 'a datagram from another source address is dropped', run: udpForeignSource },
  { id: 'udp-closed-with-tcp', rfc: 'RFC 1928 §7', title: 'the relay stops when the TCP connection closes', run: udpClosedWithTcp },
  { id: 'handshake-deadline', rfc: 'robustness (no RFC number)', title: 'a handshake trickled a byte a second is cut off', run: handshakeDeadline },
  { id: 'userpass-failure-closes', rfc: 'RFC 1929 §2', title: 'rejected credentials: 01 xx (xx ≠ 00), then close', run: userpassFailureCloses },
  { id: 'userpass-success', rfc: 'RFC 1929 §2', title: 'the given credentials: 01 00', run: userpassSuccess },
  { id: 'socks4-refusal-complete', rfc: 'SOCKS4', title: 'a refusal is a complete 8-byte reply', run: async (_, shared) => socks4RefusalComplete(await shared.socks4Refused) },
  { id: 'socks4-no-success-for-refused-target', rfc: 'SOCKS4', title: 'no grant for a target that refused', run: async (_, shared) => socks4NoSuccessForRefused(await shared.socks4Refused) },
  { id: 'socks4a-name', rfc: 'SOCKS4a', title: 'a name after USERID is resolved by the proxy', run: socks4aName },
];

/** Runs every check at once, each on its own connections, against the probe's own targets. */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const { proxy, timeoutMs } = options;
  const progress = options.onProgress ?? ((): void => {});
  progress(`connecting to ${describeProxy(proxy)}`);
  const contact = await reach({ proxy, timeoutMs });
  if ('kind' in contact) return { proxy: describeProxy(proxy), reachable: false, reason: contact.reason ?? contact.kind, checks: [], summary: { pass: 0, fail: 0, 'n/a': 0 } };
  const host = canonicalIp(contact.localAddress);
  const [targets, tokens] = await Promise.all([startTargets(host), startTokenTarget(host)]);
  try {
    const [socks5, socks4] = await Promise.all([socks5Access(proxy, timeoutMs), socks4Access(proxy, timeoutMs, host, targets.tcpPort)]);
    const context: ConformanceContext = { proxy, timeoutMs, deadlineMs: options.deadlineMs, targets, tokens, socks5, socks4 };
    const shared: Shared = { socks5Refused: refusedTarget(context), socks4Refused: socks4RefusedTarget(context) };
    progress(`${CHECKS.length} checks${options.deadlineMs > 0 ? `; the handshake deadline check may take up to ${options.deadlineMs / 1000} s` : ''}`);
    const outcomes = await Promise.all(CHECKS.map(async (check) => ({ id: check.id, rfc: check.rfc, title: check.title, ...await check.run(context, shared) })));
    const count = (result: string): number => outcomes.filter((outcome) => outcome.result === result).length;
    return { proxy: describeProxy(proxy), reachable: true, checks: outcomes, summary: { pass: count('pass'), fail: count('fail'), 'n/a': count('n/a') } };
  } finally {
    await Promise.all([targets.close(), tokens.close()]);
  }
}

/** SOCKS4 checks need a proxy that answers SOCKS4 in SOCKS4 (a grant or a refusal, 8 bytes). */
async function socks4Access(proxy: ProxyConfig, timeoutMs: number, host: string, port: number): Promise<true | { reason: string }> {
  const echo = toAddress(host, port);
  if (echo.type !== 'ipv4') return { reason: 'SOCKS4 carries IPv4 only, and the proxy faces us over IPv6' };
  const attempt = await socks4Request({ proxy, timeoutMs }, Command.CONNECT, echo);
  if (typeof attempt === 'string') return { reason: attempt };
  attempt.wire.destroy();
  return attempt.reply.ok ? true : { reason: `no SOCKS4: ${attempt.reply.text}` };
}
