import type { ClientOptions } from '../client/client.ts';
import type { Trace } from '../client/hop.ts';
import { describeProxy, type ProxyConfig } from '../client/proxy-url.ts';
import { formatAddress, toAddress, type Address } from '../codec/address.ts';
import { Method, methodName } from '../codec/constants.ts';
import { canonicalIp } from '../codec/ip.ts';
import type { Dial } from '../dial.ts';
import { checkBind, checkClosedPort, checkConnect, checkUdp, untested, type CommandCheck, type CommandDetail } from './commands.ts';
import { probeHttpProxy, type HttpProbe, type HttpProxyFindings } from './http-proxy.ts';
import { labelled } from './step-trace.ts';
import { chainDial } from './chain-dial.ts';
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
  /** The hops before `proxy`, first first: the probe reaches it through them (a strict chain). */
  readonly via?: readonly ProxyConfig[] | undefined;
  /** `-v`: each handshake message, as one decoded line. */
  readonly trace?: Trace | undefined;
}

/** Everything the endpoint supports, each step on its own connection; steps that do not depend on each other
 * run at once, so a silent port costs one `timeoutMs`, not one per step. */
export async function probe(options: ProbeOptions): Promise<ProbeReport> {
  const { proxy, timeoutMs, via } = options;
  const progress = options.onProgress ?? ((): void => {});
  progress(`connecting to ${formatAddress(proxy)}${via ? ` through ${via.map(describeProxy).join(', ')}` : ''}`);
  // Every connection to the proxy, the probe's raw ones and the clients', goes through the same dial.
  const dial = via ? chainDial(via) : undefined;
  const contact = await reach({ proxy, timeoutMs, dial });
  if ('kind' in contact) return unprobed(options, contact);
  const targets = await startTargets(canonicalIp(contact.localAddress));
  try {
    const reached = { ...options, dial };
    return await (proxy.kind === 'http' ? probeHttp(reached, targets, progress) : probeSocks(reached, targets, progress));
  } finally {
    await targets.close();
  }
}

/** The probe's options with the dial that reaches the proxy. */
type Reached = ProbeOptions & { readonly dial: Dial | undefined };

async function probeSocks(options: Reached, targets: ProbeTargets, progress: (text: string) => void): Promise<ProbeReport> {
  const { proxy, timeoutMs } = options;
  const step: StepOptions = { proxy, timeoutMs, dial: options.dial, trace: options.trace };
  const client: ClientOptions = { proxy, timeoutMs, dial: options.dial, trace: options.trace };
  const loopback = isLoopback(targets.host);
  const ipv4Echo = echoAt(targets, 'ipv4');
  const ipv6Echo = echoAt(targets, 'ipv6');
  // A name the proxy must resolve: "localhost" for a loopback proxy (the echo listens on both loopbacks); else
  // the facing address written as a name, which the proxy's resolver turns back into the address.
  const named = { address: { type: 'domain' as const, host: loopback ? 'localhost' : targets.host, port: targets.tcpPort }, connections: targets.connections };

  progress('greeting with each authentication method alone; SOCKS4; HTTP');
  const [first, gssapi, userpass, socks4, answersHttp] = await Promise.all([
    offerMethod(Method.NONE, labelled(step, 'greeting-none')),
    offerMethod(Method.GSSAPI, labelled(step, 'greeting-gssapi')),
    offerMethod(Method.USERPASS, labelled(step, 'greeting-userpass')),
    ipv4Echo ? checkSocks4({ ...ipv4Echo, address: ipv4Echo.address as Address & { type: 'ipv4' } }, labelled(client, 'socks4')) : untested('no local IPv4 address faces the proxy'),
    checkHttp(labelled(step, 'http')),
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
    // An HTTP proxy either waits for a request line (tinyproxy, squid) or answers the greeting with a 400.
    if (first.kind === 'http' || (answersHttp && first.kind === 'silent')) return probeHttp(options, targets, progress);
    return finish({ ...hops(options), reachable: true, speaksSocks: false, kind, reason: first.reason, versions, methods, auth: 'not-tested', details, findings, latencyMs: null });
  }

  const { auth, authReason } = authResult(methods, userpass, proxy);
  const commands = commandClient(client, versions.socks5, socks4.detail.status === 'ok', methods, auth, authReason);
  progress('CONNECT, BIND, UDP ASSOCIATE and address types, with data');
  const socks4a = versions.socks4 ? checkSocks4a(named, labelled(client, 'socks4a')) : Promise.resolve(untested('the proxy does not answer SOCKS4'));
  if ('reason' in commands) {
    for (const name of ['connect', 'bind', 'udp', 'ipv4', 'ipv6', 'domain'] as const) details[name] = { status: 'untested', reason: commands.reason };
  }
  const runs: Array<Promise<void>> = [];
  const record = (name: DetailName, check: Promise<CommandCheck>): void => {
    runs.push(check.then((result) => {
      details[name] = result.detail;
      findings.push(...result.findings);
    }));
  };
  record('socks4a', socks4a);
  if (!('reason' in commands)) {
    const { options: over, version } = commands;
    const socks4Only = untested('SOCKS4 carries IPv4 only');
    const as = (name: string): ClientOptions => labelled(over, name);
    record('connect', target ? checkConnect(target, as('connect')) : Promise.resolve(untested('no local address to put an echo on')));
    record('ipv4', ipv4Echo ? checkConnect(ipv4Echo, as('ipv4'), true) : Promise.resolve(untested('no local IPv4 address faces the proxy')));
    record('ipv6', version === 4 ? Promise.resolve(socks4Only) : ipv6Echo ? checkConnect(ipv6Echo, as('ipv6'), true) : Promise.resolve(untested('no local IPv6 address faces the proxy')));
    record('domain', version === 4 ? Promise.resolve(socks4Only) : checkConnect(named, as('domain'), true));
    record('bind', checkBind(toAddress(targets.host, 0), as('bind')));
    record('udp', version === 4 ? Promise.resolve(untested('UDP ASSOCIATE needs SOCKS5'))
      // The datagrams would go straight to the last hop's relay, past the hops before it.
      : options.via ? Promise.resolve(untested('not through a chain: the datagrams would bypass the hops before the last'))
        : checkUdp(toAddress(targets.host, targets.udpPort), as('udp')));
    runs.push(checkClosedPort(toAddress(targets.host, targets.closedPort), as('closed-port')).then((found) => { findings.push(...found); }));
  }
  // SOCKS and HTTP on one port (socx serve, gost): the HTTP side is reported too.
  let http: HttpProxyFindings | undefined;
  if (answersHttp) runs.push(httpSide(options, targets).then((found) => { if (found.isProxy) http = found.http; }));
  await Promise.all(runs);
  versions.socks4a = details.socks4a.granted === true;
  if (!('reason' in commands)) findings.push(...openProxyFinding(proxy, targets.host, methods.none, details.connect.status));
  return finish({
    ...hops(options), reachable: true, speaksSocks: true, kind, reason: authReason, versions, methods, auth, details, findings,
    latencyMs: socks5 ? first.latencyMs ?? null : null,
    target: details.connect.status === 'untested' || !target ? undefined : formatAddress(target.address),
    socks5Via: !('reason' in commands) && commands.version === 5,
    http,
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

/** An endpoint that speaks HTTP: a proxy (CONNECT, plain forwarding, a 407), or a web server that is not one. */
async function probeHttp(options: Reached, targets: ProbeTargets, progress: (text: string) => void): Promise<ProbeReport> {
  progress('HTTP CONNECT and a forwarded GET, without and with the credentials');
  const found = await httpSide(options, targets);
  const none = { status: 'untested' as const, reason: 'an HTTP proxy carries CONNECT and plain HTTP requests only' };
  const notSocks = { status: 'untested' as const, reason: 'not a SOCKS proxy' };
  const types = { status: 'untested' as const, reason: 'address types are not probed through an HTTP proxy' };
  const notProxy = { status: 'untested' as const, reason: 'not a proxy' };
  return finish({
    ...hops(options), reachable: true, speaksSocks: false, kind: found.isProxy ? 'http-proxy' : 'http', reason: found.reason ?? found.authReason,
    versions: { socks4: false, socks4a: false, socks5: false }, methods: { none: false, gssapi: false, userpass: false },
    auth: found.isProxy ? found.auth : 'not-tested',
    details: { connect: found.isProxy ? found.http.details.connect : notProxy, bind: none, udp: none, socks4: notSocks, socks4a: notSocks, ipv4: types, ipv6: types, domain: types },
    findings: [], latencyMs: found.isProxy ? found.latencyMs : null, http: found.http,
    target: found.isProxy ? formatAddress(options.target ?? toAddress(targets.host, targets.tcpPort)) : undefined,
  });
}

function httpSide({ proxy, timeoutMs, dial, trace, target }: Reached, targets: ProbeTargets): Promise<HttpProbe> {
  return probeHttpProxy({ proxy, timeoutMs, dial, trace }, toAddress(targets.host, targets.tcpPort), target);
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
function commandClient(client: ClientOptions, socks5: boolean, socks4Works: boolean, methods: ProbeReport['methods'], auth: AuthResult, authReason: string | undefined): CommandClient {
  const { proxy } = client;
  if (socks5 && (auth === 'ok' || methods.none)) {
    const credentials = auth === 'ok' ? {} : { username: undefined, password: undefined };
    return { version: 5, options: { ...client, proxy: { ...proxy, ...credentials, kind: 'socks', version: 5, remoteDns: true } } };
  }
  if (socks4Works) return { version: 4, options: { ...client, proxy: { ...proxy, kind: 'socks', version: 4, remoteDns: true } } };
  return { reason: authReason ?? 'SOCKS5 authentication did not succeed' };
}

/** No connection to probe over: none at all (refused, unreachable), or one the server reset as soon as it
 * accepted it, which is reachable. */
function unprobed(options: ProbeOptions, first: GreetingOutcome): ProbeReport {
  const no = { status: 'untested' as const, reason: first.reason ?? 'unreachable' };
  const reachable = first.kind === 'closed-at-once';
  return finish({
    ...hops(options), reachable, speaksSocks: false, kind: reachable || first.kind === 'refused' ? first.kind : 'unreachable', reason: first.reason,
    versions: { socks4: false, socks4a: false, socks5: false }, methods: { none: false, gssapi: false, userpass: false }, auth: 'not-tested',
    details: { connect: no, bind: no, udp: no, socks4: no, socks4a: no, ipv4: no, ipv6: no, domain: no }, findings: [], latencyMs: null,
  });
}

function hops({ proxy, via }: ProbeOptions): Pick<Parts, 'proxy' | 'via'> {
  return { proxy, via };
}

interface Parts {
  readonly proxy: ProxyConfig;
  readonly via?: readonly ProxyConfig[] | undefined;
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
  readonly http?: HttpProxyFindings;
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
    ...(parts.via === undefined ? {} : { via: parts.via.map(describeProxy) }),
    speaksSocks: parts.speaksSocks,
    kind: parts.kind,
    ...(parts.reason === undefined ? {} : { reason: parts.reason }),
    ...(parts.target === undefined ? {} : { target: parts.target }),
    ...(parts.http === undefined ? {} : { http: parts.http }),
    dataFlow: { socks5: parts.socks5Via ? details.connect.status : 'untested', socks4: details.socks4.status, socks4a: details.socks4a.status },
    addressTypes: { ipv4: details.ipv4.status, ipv6: details.ipv6.status, domain: details.domain.status },
    details,
    findings: [...new Set(parts.findings)],
  };
  return { ...base, verdict: verdictFor(base) };
}
