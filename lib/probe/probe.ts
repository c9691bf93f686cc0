import type { ClientOptions } from '../client/client.ts';
import { describeProxy, type ProxyConfig } from '../client/proxy-url.ts';
import { formatAddress, toAddress, type Address } from '../codec/address.ts';
import { Method, methodName } from '../codec/constants.ts';
import { canonicalIp } from '../codec/ip.ts';
import { checkBind, checkClosedPort, checkConnect, checkUdp, untested, type CommandCheck, type CommandDetail } from './commands.ts';
import { checkHttp, offerMethod, reach, type GreetingOutcome, type StepOptions } from './detect.ts';
import { verdictFor, type AuthResult, type DetailName, type EndpointKind, type ProbeReport } from './report.ts';
import { isLoopback, startTargets, type ProbeTargets } from './targets.ts';
import { checkSocks4, checkSocks4a } from './versions.ts';

export interface ProbeOptions {
  readonly proxy: ProxyConfig;
  /** Bound on each step: the TCP connect, each reply, each round trip. */
  readonly timeoutMs: number;
  /** CONNECT here instead of the probe's own echo: any byte back counts as a round trip. */
  readonly target?: Address | undefined;
  readonly onProgress?: (text: string) => void;
}

/** Everything the endpoint supports, each step on its own connection; steps that do not depend on each other
 * run at once, so a silent port costs one `timeoutMs`, not one per step. */
export async function probe(options: ProbeOptions): Promise<ProbeReport> {
  const { proxy, timeoutMs } = options;
  const progress = options.onProgress ?? ((): void => {});
  progress(`connecting to ${formatAddress(proxy)}`);
  const contact = await reach({ proxy, timeoutMs });
  if ('kind' in contact) return unreachable(proxy, contact);
  const targets = await startTargets(canonicalIp(contact.localAddress));
  try {
    return await probeSocks(options, targets, progress);
  } finally {
    await targets.close();
  }
}

async function probeSocks(options: ProbeOptions, targets: ProbeTargets, progress: (text: string) => void): Promise<ProbeReport> {
  const { proxy, timeoutMs } = options;
  const step: StepOptions = { proxy, timeoutMs };
  const loopback = isLoopback(targets.host);
  const ipv4Echo = echoAt(targets, 'ipv4');
  const ipv6Echo = echoAt(targets, 'ipv6');
  // A name the proxy must resolve: "localhost" for a loopback proxy (the echo listens on both loopbacks); else
  // the facing address written as a name, which the proxy's resolver turns back into the address.
  const named = { address: { type: 'domain' as const, host: loopback ? 'localhost' : targets.host, port: targets.tcpPort }, connections: targets.connections };

  progress('greeting with each authentication method alone; SOCKS4; HTTP');
  const [first, gssapi, userpass, socks4, http] = await Promise.all([
    offerMethod(Method.NONE, step),
    offerMethod(Method.GSSAPI, step),
    offerMethod(Method.USERPASS, step),
    ipv4Echo ? checkSocks4({ ...ipv4Echo, address: ipv4Echo.address as Address & { type: 'ipv4' } }, proxy, timeoutMs) : untested('no local IPv4 address faces the proxy'),
    checkHttp(step),
  ]);
  const socks5 = first.kind === 'socks5';
  const versions = { socks5, socks4: speaks(socks4.detail), socks4a: false };
  const kind: EndpointKind = socks5 || versions.socks4 ? 'socks' : notSocks(first.kind);
  const methods = {
    none: socks5 && first.method === Method.NONE,
    gssapi: socks5 && gssapi.kind === 'socks5' && gssapi.method === Method.GSSAPI,
    userpass: socks5 && userpass.kind === 'socks5' && userpass.method === Method.USERPASS,
  };
  const target = options.target ? { address: options.target } : ipv4Echo ?? ipv6Echo;
  const details: Record<DetailName, CommandDetail> = {
    connect: untestedDetail, bind: untestedDetail, udp: untestedDetail, socks4: socks4.detail,
    socks4a: untestedDetail, ipv4: untestedDetail, ipv6: untestedDetail, domain: untestedDetail,
  };
  const findings: string[] = [...socks4.findings, ...(socks5 ? unofferedChoices([[Method.NONE, first], [Method.GSSAPI, gssapi], [Method.USERPASS, userpass]]) : [])];
  if (kind !== 'socks') {
    const [shownKind, reason] = http && first.kind === 'silent' ? ['http' as const, 'it answered an HTTP request but not the SOCKS greeting: an HTTP server, not a SOCKS proxy'] : [kind, first.reason];
    return finish({ proxy, reachable: true, speaksSocks: false, kind: shownKind, reason, versions, methods, auth: 'not-tested', details, findings, latencyMs: null });
  }

  const { auth, authReason } = authResult(methods, userpass, proxy);
  const client = commandClient(proxy, timeoutMs, versions.socks5, socks4.detail.status === 'ok', methods, auth, authReason);
  progress('CONNECT, BIND, UDP ASSOCIATE and address types, with data');
  const socks4a = versions.socks4 ? checkSocks4a(named, proxy, timeoutMs) : Promise.resolve(untested('the proxy does not answer SOCKS4'));
  if ('reason' in client) {
    for (const name of ['connect', 'bind', 'udp', 'ipv4', 'ipv6', 'domain'] as const) details[name] = { status: 'untested', reason: client.reason };
  }
  const runs: Array<Promise<void>> = [];
  const record = (name: DetailName, check: Promise<CommandCheck>): void => {
    runs.push(check.then((result) => {
      details[name] = result.detail;
      findings.push(...result.findings);
    }));
  };
  record('socks4a', socks4a);
  if (!('reason' in client)) {
    const { options: via, version } = client;
    const socks4Only = untested('SOCKS4 carries IPv4 only');
    record('connect', target ? checkConnect(target, via) : Promise.resolve(untested('no local address to put an echo on')));
    record('ipv4', ipv4Echo ? checkConnect(ipv4Echo, via, true) : Promise.resolve(untested('no local IPv4 address faces the proxy')));
    record('ipv6', version === 4 ? Promise.resolve(socks4Only) : ipv6Echo ? checkConnect(ipv6Echo, via, true) : Promise.resolve(untested('no local IPv6 address faces the proxy')));
    record('domain', version === 4 ? Promise.resolve(socks4Only) : checkConnect(named, via, true));
    record('bind', checkBind(toAddress(targets.host, 0), via));
    record('udp', version === 4 ? Promise.resolve(untested('UDP ASSOCIATE needs SOCKS5')) : checkUdp(toAddress(targets.host, targets.udpPort), via));
    runs.push(checkClosedPort(toAddress(targets.host, targets.closedPort), via).then((found) => { findings.push(...found); }));
  }
  await Promise.all(runs);
  versions.socks4a = details.socks4a.granted === true;
  if (!('reason' in client)) findings.push(...openProxyFinding(proxy, targets.host, methods.none, details.connect.status));
  return finish({
    proxy, reachable: true, speaksSocks: true, kind, reason: authReason, versions, methods, auth, details, findings,
    latencyMs: socks5 ? first.latencyMs ?? null : null,
    target: details.connect.status === 'untested' || !target ? undefined : formatAddress(target.address),
    socks5Via: !('reason' in client) && client.version === 5,
  });
}

/** One rule for every version: a version is spoken when the proxy answers a well-formed request in it with a
 * well-formed reply, granted or not (whether data then flows is `dataFlow`'s business). SOCKS4a is the
 * exception that proves it: a SOCKS4-only server answers a SOCKS4a request too (as a request for 0.0.0.x),
 * so only a granted SOCKS4a request shows that the name was understood. */
function speaks(detail: CommandDetail): boolean {
  return detail.granted === true || detail.reply !== undefined;
}

/** No authentication and a working CONNECT, on an address other hosts may reach (we reach it over something
 * other than loopback): anyone can relay through it. */
export function openProxyFinding(proxy: ProxyConfig, facing: string, noAuth: boolean, connect: CommandDetail['status']): string[] {
  if (!noAuth || connect !== 'ok' || isLoopback(facing)) return [];
  return [`open proxy: anyone who reaches ${formatAddress(proxy)} can relay through it without authentication`];
}

/** RFC 1928 §3: the server picks one of the methods offered, or 0xff. */
function unofferedChoices(offers: ReadonlyArray<readonly [number, GreetingOutcome]>): string[] {
  return offers.flatMap(([offered, outcome]) => outcome.kind === 'socks5' && outcome.method !== undefined && outcome.method !== offered && outcome.method !== Method.NO_ACCEPTABLE
    ? [`a greeting offering only ${methodName(offered)} was answered with ${methodName(outcome.method)}, which was not offered`]
    : []);
}

function notSocks(kind: GreetingOutcome['kind']): EndpointKind {
  return kind === 'socks5' ? 'other' : kind;
}

const untestedDetail: CommandDetail = { status: 'untested', reason: 'not reached' };

function echoAt(targets: ProbeTargets, type: 'ipv4' | 'ipv6'): { address: Address; connections: () => number } | undefined {
  const main = toAddress(targets.host, targets.tcpPort);
  if (main.type === type) return { address: main, connections: targets.connections };
  const other = targets.otherLoopback && toAddress(targets.otherLoopback.host, targets.otherLoopback.port);
  return other?.type === type ? { address: other, connections: targets.connections } : undefined;
}

/** Given credentials are tried whenever the proxy accepts username/password, even when it also accepts no
 * authentication (Tor does both, and uses the credentials to keep circuits apart). */
function authResult(methods: ProbeReport['methods'], userpass: GreetingOutcome, proxy: ProxyConfig): { auth: AuthResult; authReason?: string } {
  if (methods.userpass && proxy.username !== undefined) {
    return userpass.auth?.ok ? { auth: 'ok' } : { auth: 'failed', authReason: userpass.auth?.reason ?? 'the proxy rejected the credentials' };
  }
  if (methods.none) return { auth: 'not-required' };
  if (methods.userpass) return { auth: 'not-tested', authReason: 'the proxy requires a username and password: give them with -U user:pass or in the URL' };
  if (methods.gssapi) return { auth: 'not-tested', authReason: 'the proxy requires GSSAPI, which socx does not speak' };
  return { auth: 'not-tested', authReason: 'the proxy accepts none of the SOCKS5 methods socx offers' };
}

type CommandClient = { readonly options: ClientOptions; readonly version: 4 | 5 } | { readonly reason: string };

/** Commands go over SOCKS5 when it is usable (names to the proxy, as socks5h://), else over SOCKS4 when data
 * flows through it. Rejected credentials with no-auth also accepted: the commands go without them. */
function commandClient(proxy: ProxyConfig, timeoutMs: number, socks5: boolean, socks4Works: boolean, methods: ProbeReport['methods'], auth: AuthResult, authReason: string | undefined): CommandClient {
  if (socks5 && (auth === 'ok' || methods.none)) {
    const credentials = auth === 'ok' ? {} : { username: undefined, password: undefined };
    return { version: 5, options: { proxy: { ...proxy, ...credentials, kind: 'socks', version: 5, remoteDns: true }, timeoutMs } };
  }
  if (socks4Works) return { version: 4, options: { proxy: { ...proxy, kind: 'socks', version: 4, remoteDns: true }, timeoutMs } };
  return { reason: authReason ?? 'SOCKS5 authentication did not succeed' };
}

function unreachable(proxy: ProxyConfig, first: GreetingOutcome): ProbeReport {
  const no = { status: 'untested' as const, reason: first.reason ?? 'unreachable' };
  return finish({
    proxy, reachable: false, speaksSocks: false, kind: first.kind === 'refused' ? 'refused' : 'unreachable', reason: first.reason,
    versions: { socks4: false, socks4a: false, socks5: false }, methods: { none: false, gssapi: false, userpass: false }, auth: 'not-tested',
    details: { connect: no, bind: no, udp: no, socks4: no, socks4a: no, ipv4: no, ipv6: no, domain: no }, findings: [], latencyMs: null,
  });
}

interface Parts {
  readonly proxy: ProxyConfig;
  readonly reachable: boolean;
  readonly speaksSocks: boolean;
  readonly kind: EndpointKind;
  readonly reason?: string | undefined;
  readonly target?: string | undefined;
  readonly versions: ProbeReport['versions'];
  readonly methods: ProbeReport['methods'];
  readonly auth: AuthResult;
  readonly details: Record<DetailName, CommandDetail>;
  readonly findings: readonly string[];
  readonly latencyMs: number | null;
  /** CONNECT went over SOCKS5 (else over SOCKS4, or not at all). */
  readonly socks5Via?: boolean;
}

/** The contract's keys first, in its order; then the extras. */
function finish(parts: Parts): ProbeReport {
  const { details } = parts;
  const base = {
    reachable: parts.reachable,
    versions: parts.versions,
    methods: parts.methods,
    auth: parts.auth,
    commands: { connect: details.connect.status, bind: details.bind.status, udp: details.udp.status },
    latencyMs: parts.latencyMs,
    proxy: describeProxy(parts.proxy),
    speaksSocks: parts.speaksSocks,
    kind: parts.kind,
    ...(parts.reason === undefined ? {} : { reason: parts.reason }),
    ...(parts.target === undefined ? {} : { target: parts.target }),
    dataFlow: { socks5: parts.socks5Via ? details.connect.status : 'untested', socks4: details.socks4.status, socks4a: details.socks4a.status },
    addressTypes: { ipv4: details.ipv4.status, ipv6: details.ipv6.status, domain: details.domain.status },
    details,
    findings: [...new Set(parts.findings)],
  };
  return { ...base, verdict: verdictFor(base) };
}
