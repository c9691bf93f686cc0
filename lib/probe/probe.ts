import type { ClientOptions } from '../client/client.ts';
import { describeProxy, type ProxyConfig } from '../client/proxy-url.ts';
import { formatAddress, toAddress, type Address } from '../codec/address.ts';
import { Method, methodName } from '../codec/constants.ts';
import { canonicalIp } from '../codec/ip.ts';
import { checkBind, checkClosedPort, checkConnect, checkUdp, untested, type CommandCheck, type CommandDetail } from './commands.ts';
import { checkHttp, offerMethod, type GreetingOutcome, type StepOptions } from './detect.ts';
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

/** Everything the endpoint supports, each step on its own connection. */
export async function probe(options: ProbeOptions): Promise<ProbeReport> {
  const { proxy, timeoutMs } = options;
  const progress = options.onProgress ?? ((): void => {});
  const step: StepOptions = { proxy, timeoutMs };
  progress(`greeting ${formatAddress(proxy)}`);
  const first = await offerMethod(Method.NONE, step);
  if (first.kind === 'refused' || first.kind === 'unreachable') return unreachable(proxy, first);
  const facing = canonicalIp(first.localAddress ?? '127.0.0.1');
  const targets = await startTargets(facing);
  try {
    return await probeSocks(options, first, targets, progress);
  } finally {
    await targets.close();
  }
}

async function probeSocks(options: ProbeOptions, first: GreetingOutcome, targets: ProbeTargets, progress: (text: string) => void): Promise<ProbeReport> {
  const { proxy, timeoutMs } = options;
  const step: StepOptions = { proxy, timeoutMs };
  const socks5 = first.kind === 'socks5';
  const loopback = isLoopback(targets.host);
  const ipv4Echo = echoAt(targets, 'ipv4');
  const ipv6Echo = echoAt(targets, 'ipv6');
  // A name the proxy must resolve: "localhost" for a loopback proxy (the echo listens on both loopbacks); else
  // the facing address written as a name, which the proxy's resolver turns back into the address.
  const named = { address: { type: 'domain' as const, host: loopback ? 'localhost' : targets.host, port: targets.tcpPort }, connections: targets.connections };

  progress('offering each authentication method alone; trying SOCKS4');
  const [gssapi, userpass, socks4, http] = await Promise.all([
    socks5 ? offerMethod(Method.GSSAPI, step) : undefined,
    socks5 ? offerMethod(Method.USERPASS, step) : undefined,
    ipv4Echo ? checkSocks4({ ...ipv4Echo, address: ipv4Echo.address as Address & { type: 'ipv4' } }, proxy, timeoutMs) : untested('no local IPv4 address faces the proxy'),
    first.kind === 'silent' ? checkHttp(step) : false,
  ]);
  const versions = { socks5, socks4: socks4.detail.status === 'ok', socks4a: false };
  const kind: EndpointKind = socks5 || versions.socks4 ? 'socks' : notSocks(first.kind);
  const methods = {
    none: socks5 && first.method === Method.NONE,
    gssapi: gssapi?.kind === 'socks5' && gssapi.method === Method.GSSAPI,
    userpass: userpass?.kind === 'socks5' && userpass.method === Method.USERPASS,
  };
  const target = options.target ? { address: options.target } : ipv4Echo ?? ipv6Echo;
  const details: Record<DetailName, CommandDetail> = {
    connect: untestedDetail, bind: untestedDetail, udp: untestedDetail, socks4: socks4.detail,
    socks4a: untestedDetail, ipv4: untestedDetail, ipv6: untestedDetail, domain: untestedDetail,
  };
  const findings: string[] = [...socks4.findings, ...unofferedChoices([[Method.NONE, first], [Method.GSSAPI, gssapi], [Method.USERPASS, userpass]])];
  if (kind !== 'socks') {
    const [shownKind, reason] = http ? ['http' as const, 'it answered an HTTP request but not the SOCKS greeting: an HTTP server, not a SOCKS proxy'] : [kind, first.reason];
    return finish({ proxy, reachable: true, speaksSocks: false, kind: shownKind, reason, versions, methods, auth: 'not-tested', details, findings, latencyMs: null });
  }

  if (versions.socks4) {
    progress('trying SOCKS4a');
    const socks4a = await checkSocks4a(named, proxy, timeoutMs);
    details.socks4a = socks4a.detail;
    versions.socks4a = socks4a.detail.status === 'ok';
  } else {
    details.socks4a = { status: 'untested', reason: 'SOCKS4 does not work' };
  }

  const { auth, authReason } = authResult(methods, userpass, proxy);
  const client = commandClient(proxy, timeoutMs, versions, auth, authReason);
  if ('reason' in client) {
    for (const name of ['connect', 'bind', 'udp', 'ipv4', 'ipv6', 'domain'] as const) details[name] = { status: 'untested', reason: client.reason };
  } else {
    const record = (name: DetailName, check: CommandCheck): void => {
      details[name] = check.detail;
      findings.push(...check.findings);
    };
    progress('CONNECT with a data round trip');
    record('connect', target ? await checkConnect(target, client.options) : untested('no local address to put an echo on'));
    progress('address types');
    record('ipv4', ipv4Echo ? await checkConnect(ipv4Echo, client.options, true) : untested('no local IPv4 address faces the proxy'));
    record('ipv6', client.version === 4 ? untested('SOCKS4 carries IPv4 only') : ipv6Echo ? await checkConnect(ipv6Echo, client.options, true) : untested('no local IPv6 address faces the proxy'));
    record('domain', client.version === 4 ? untested('SOCKS4 carries IPv4 only') : await checkConnect(named, client.options, true));
    findings.push(...await checkClosedPort(toAddress(targets.host, targets.closedPort), client.options));
    progress('BIND');
    record('bind', await checkBind(toAddress(targets.host, 0), client.options));
    progress('UDP ASSOCIATE');
    record('udp', client.version === 4 ? untested('UDP ASSOCIATE needs SOCKS5') : await checkUdp(toAddress(targets.host, targets.udpPort), client.options));
    findings.push(...openProxyFinding(proxy, targets.host, methods.none, details.connect.status));
  }
  return finish({
    proxy, reachable: true, speaksSocks: true, kind, reason: authReason, versions, methods, auth, details, findings,
    latencyMs: socks5 ? first.latencyMs ?? null : null,
    target: details.connect.status === 'untested' || !target ? undefined : formatAddress(target.address),
  });
}

/** No authentication and a working CONNECT, on an address other hosts may reach (we reach it over something
 * other than loopback): anyone can relay through it. */
export function openProxyFinding(proxy: ProxyConfig, facing: string, noAuth: boolean, connect: CommandDetail['status']): string[] {
  if (!noAuth || connect !== 'ok' || isLoopback(facing)) return [];
  return [`open proxy: anyone who reaches ${formatAddress(proxy)} can relay through it without authentication`];
}

/** RFC 1928 §3: the server picks one of the methods offered, or 0xff. */
function unofferedChoices(offers: ReadonlyArray<readonly [number, GreetingOutcome | undefined]>): string[] {
  return offers.flatMap(([offered, outcome]) => outcome?.kind === 'socks5' && outcome.method !== undefined && outcome.method !== offered && outcome.method !== Method.NO_ACCEPTABLE
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

/** RFC 1929 credentials matter only when the proxy will not do without them. */
function authResult(methods: ProbeReport['methods'], userpass: GreetingOutcome | undefined, proxy: ProxyConfig): { auth: AuthResult; authReason?: string } {
  if (methods.none) return { auth: 'not-required' };
  if (methods.userpass) {
    if (proxy.username === undefined) return { auth: 'not-tested', authReason: 'the proxy requires a username and password: give them with -U user:pass or in the URL' };
    return userpass?.auth?.ok ? { auth: 'ok' } : { auth: 'failed', authReason: userpass?.auth?.reason ?? 'the proxy rejected the credentials' };
  }
  if (methods.gssapi) return { auth: 'not-tested', authReason: 'the proxy requires GSSAPI, which socx does not speak' };
  return { auth: 'not-tested', authReason: 'the proxy accepts none of the SOCKS5 methods socx offers' };
}

type CommandClient = { readonly options: ClientOptions; readonly version: 4 | 5 } | { readonly reason: string };

/** Commands go over SOCKS5 when it is usable (names to the proxy, as socks5h://), else over SOCKS4. */
function commandClient(proxy: ProxyConfig, timeoutMs: number, versions: ProbeReport['versions'], auth: AuthResult, authReason: string | undefined): CommandClient {
  if (versions.socks5 && (auth === 'ok' || auth === 'not-required')) {
    return { version: 5, options: { proxy: { ...proxy, version: 5, remoteDns: true }, timeoutMs } };
  }
  if (versions.socks4) return { version: 4, options: { proxy: { ...proxy, version: 4, remoteDns: true }, timeoutMs } };
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
    addressTypes: { ipv4: details.ipv4.status, ipv6: details.ipv6.status, domain: details.domain.status },
    details,
    findings: [...new Set(parts.findings)],
  };
  return { ...base, verdict: verdictFor(base) };
}
