import type { CommandDetail, CommandStatus } from './commands.ts';
import type { HttpProxyFindings } from './http-proxy.ts';

export type AuthResult = 'ok' | 'failed' | 'not-required' | 'not-tested';
/** 'socks' for a SOCKS endpoint, 'http-proxy' for an HTTP proxy ('http': a web server that is not one);
 * otherwise what answered instead, or why nothing did. */
export type EndpointKind = 'socks' | 'http-proxy' | 'http' | 'silent' | 'closed-at-once' | 'other' | 'refused' | 'unreachable';

/** What `socx probe --json` prints (the first seven keys are the contract's). */
export interface ProbeReport {
  readonly reachable: boolean;
  readonly versions: { readonly socks4: boolean; readonly socks4a: boolean; readonly socks5: boolean };
  readonly methods: { readonly none: boolean; readonly gssapi: boolean; readonly userpass: boolean };
  readonly auth: AuthResult;
  readonly commands: { readonly connect: CommandStatus; readonly bind: CommandStatus; readonly udp: CommandStatus };
  /** The SOCKS5 greeting round trip; null when there was none. */
  readonly latencyMs: number | null;
  /** The proxy URL, without credentials: the last hop of a chain. */
  readonly proxy: string;
  /** The hops before it, first first, without credentials: the probe reached `proxy` through them. */
  readonly via?: readonly string[];
  readonly speaksSocks: boolean;
  readonly kind: EndpointKind;
  /** Why the endpoint is unreachable or not SOCKS; why auth failed or was not tested. */
  readonly reason?: string;
  /** Where CONNECT went. */
  readonly target?: string;
  /** For an endpoint that speaks HTTP: what it does as an HTTP proxy. */
  readonly http?: HttpProxyFindings;
  /** Whether a CONNECT with data works in each version (`versions` says only whether the proxy speaks it). */
  readonly dataFlow: { readonly socks5: CommandStatus; readonly socks4: CommandStatus; readonly socks4a: CommandStatus };
  readonly addressTypes: { readonly ipv4: CommandStatus; readonly ipv6: CommandStatus; readonly domain: CommandStatus };
  readonly details: Readonly<Record<DetailName, CommandDetail>>;
  readonly findings: readonly string[];
  readonly verdict: string;
}

export type DetailName = 'connect' | 'bind' | 'udp' | 'socks4' | 'socks4a' | 'ipv4' | 'ipv6' | 'domain';

type Verdictless = Omit<ProbeReport, 'verdict'>;

/** One line for a person: what the endpoint is, what works, and how many warnings there are. */
export function verdictFor(report: Verdictless): string {
  if (!report.reachable) return `unreachable: ${report.reason ?? 'no connection'}`;
  if (report.kind === 'http-proxy' && report.http) return httpVerdict(report, report.http);
  // A connection closed before any answer says nothing of what listens: a SOCKS server at its per-address
  // limit resets at accept.
  if (report.kind === 'closed-at-once') return `no answer to tell what it speaks: ${report.reason ?? 'it closed the connection'}`;
  if (!report.speaksSocks) return `not a SOCKS proxy: ${report.reason ?? report.kind}`;
  const versions = [report.versions.socks5 && 'SOCKS5', report.versions.socks4 && 'SOCKS4', report.versions.socks4a && 'SOCKS4a'].filter(Boolean).join(', ');
  const names = { connect: 'CONNECT', bind: 'BIND', udp: 'UDP' } as const;
  const statuses = (Object.keys(names) as Array<keyof typeof names>).map((name) => [names[name], report.commands[name]] as const);
  const http = report.http ? [`also an HTTP proxy: ${statusParts([['CONNECT', report.http.connect], ['forwarding', report.http.forward]]).join(', ')}`] : [];
  return [`${versions} (${AUTH_WORDS[report.auth]})`, ...statusParts(statuses), ...http, ...warningCount(report)].join('; ');
}

const AUTH_WORDS: Readonly<Record<AuthResult, string>> = {
  'not-required': 'no authentication',
  ok: 'username/password accepted',
  failed: 'credentials rejected',
  'not-tested': 'authentication required, not tested',
};

/** "HTTP proxy (Basic authentication required, not tested); CONNECT works; forwarding refused". */
function httpVerdict(report: Verdictless, http: HttpProxyFindings): string {
  const schemes = http.auth.schemes.length > 0 ? `${http.auth.schemes.join(', ')} ` : '';
  const auth = report.auth === 'not-tested' ? `${schemes}authentication required, not tested` : AUTH_WORDS[report.auth];
  return [`HTTP proxy (${auth})`, ...statusParts([['CONNECT', http.connect], ['forwarding', http.forward]]), ...warningCount(report)].join('; ');
}

/** Names grouped by their status: "CONNECT, BIND work", "UDP got no answer". */
function statusParts(statuses: ReadonlyArray<readonly [string, CommandStatus]>): string[] {
  const parts: string[] = [];
  for (const [status, label] of [['ok', 'work'], ['refused', 'refused'], ['timeout', 'got no answer'], ['untested', 'untested']] as const) {
    const list = statuses.filter(([, value]) => value === status).map(([name]) => name);
    if (list.length > 0) parts.push(`${list.join(', ')} ${label === 'work' && list.length === 1 ? 'works' : label}`);
  }
  return parts;
}

function warningCount(report: Verdictless): string[] {
  return report.findings.length > 0 ? [`${report.findings.length} warning${report.findings.length === 1 ? '' : 's'}`] : [];
}

export interface Grid {
  readonly header: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  /** Details that more than one row shares, printed once under the table; those rows say "see note N". */
  readonly notes: readonly string[];
}

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

/** The table `socx probe` prints: one check a row, its result, and the detail behind it. */
export function probeGrid(report: ProbeReport): Grid {
  const header = ['Check', 'Result', 'Detail'];
  const where = report.via ? `${report.proxy}, through ${report.via.join(', ')}` : report.proxy;
  const rows: string[][] = [['Reachable', yesNo(report.reachable), report.reachable ? where : report.reason ?? '']];
  if (!report.reachable) return { header, rows, notes: [] };
  if (report.kind === 'http-proxy' && report.http) {
    rows.push(['Speaks SOCKS', 'no', 'an HTTP proxy'], ...httpRows(report, report.http));
    return collapseNotes(header, rows);
  }
  rows.push(['Speaks SOCKS', report.kind === 'closed-at-once' ? 'unknown' : yesNo(report.speaksSocks), report.speaksSocks ? '' : `${report.kind}: ${report.reason ?? ''}`]);
  if (report.speaksSocks) {
    rows.push(
      ['SOCKS5', yesNo(report.versions.socks5), report.latencyMs === null ? '' : `greeting ${report.latencyMs} ms`],
      ['SOCKS4', yesNo(report.versions.socks4), versionDetail(report.versions.socks4, report.details.socks4)],
      ['SOCKS4a', yesNo(report.versions.socks4a), versionDetail(report.versions.socks4a, report.details.socks4a)],
      ['Method no-auth', accepted(report.methods.none), ''],
      ['Method GSSAPI', accepted(report.methods.gssapi), ''],
      ['Method username/password', accepted(report.methods.userpass), ''],
      ['Auth', report.auth, report.auth === 'ok' || report.auth === 'not-required' ? '' : report.reason ?? ''],
      ['CONNECT', report.commands.connect, commandDetail(report.details.connect, report.target && `to ${report.target}`)],
      ['BIND', report.commands.bind, commandDetail(report.details.bind, boundText(report.details.bind))],
      ['UDP ASSOCIATE', report.commands.udp, commandDetail(report.details.udp, boundText(report.details.udp, 'relay'))],
      ['Address IPv4', report.addressTypes.ipv4, commandDetail(report.details.ipv4)],
      ['Address IPv6', report.addressTypes.ipv6, commandDetail(report.details.ipv6)],
      ['Address domain', report.addressTypes.domain, commandDetail(report.details.domain)],
    );
  }
  if (report.http) rows.push(...httpRows(report, report.http));
  for (const finding of report.findings) rows.push(['Warning', '!', finding]);
  return collapseNotes(header, rows);
}

function httpRows(report: ProbeReport, http: HttpProxyFindings): string[][] {
  const { required, schemes } = http.auth;
  return [
    ['HTTP proxy', yesNo(isHttpProxy(report)), http.server ?? ''],
    ['HTTP CONNECT', http.connect, httpDetail(http.details.connect, report.target && `to ${report.target}`)],
    ['HTTP forwarding', http.forward, httpDetail(http.details.forward)],
    ['Proxy auth', required ? 'required' : 'not required', required ? `407, Proxy-Authenticate: ${schemes.join(', ') || 'none'}` : ''],
    // Beside SOCKS, "Auth" is SOCKS's; the HTTP side's credentials get their own row.
    report.speaksSocks ? ['HTTP auth', http.auth.credentials, ''] : ['Auth', report.auth, report.auth === 'ok' || report.auth === 'not-required' ? '' : report.reason ?? ''],
  ];
}

/** The status line, then the timings when it worked; the reason when it did not. */
function httpDetail(detail: CommandDetail, where?: string): string {
  if (detail.status !== 'ok') return detail.reason ?? detail.reply ?? '';
  return [detail.reply, where, timing(detail)].filter(Boolean).join(', ');
}

/** The same hint on several rows ("give credentials with -U" on every command) is said once, as a note.
 * Rows that passed keep their detail (timings may well repeat). */
function collapseNotes(header: readonly string[], rows: string[][]): Grid {
  const counts = new Map<string, number>();
  const hint = (row: readonly string[]): string | undefined => (row[2] && !PASSED.has(row[1] ?? '') ? row[2] : undefined);
  for (const row of rows) {
    const text = hint(row);
    if (text !== undefined) counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  const notes = [...counts].filter(([, count]) => count > 1).map(([text]) => text);
  const shown = rows.map((row) => {
    const [check = '', result = '', detail = ''] = row;
    const text = hint(row);
    const index = text === undefined ? -1 : notes.indexOf(text);
    return [check, result, index < 0 ? detail : `see note ${index + 1}`];
  });
  return { header, rows: shown, notes };
}

const PASSED: ReadonlySet<string> = new Set(['yes', 'ok', 'accepted', 'not-required', 'not required']);

const accepted = (value: boolean): string => (value ? 'accepted' : 'not accepted');

/** A version's row: the timings when data flows; else why not, after "answers" when the proxy spoke it. */
function versionDetail(spoken: boolean, detail: CommandDetail): string {
  if (detail.status === 'ok') return timing(detail);
  const why = detail.reply ?? detail.reason ?? '';
  return spoken ? `answers, but CONNECT ${detail.status === 'timeout' ? 'got no answer' : 'failed'}: ${why}` : why;
}

function commandDetail(detail: CommandDetail, where?: string): string {
  if (detail.status !== 'ok') return detail.reply ?? detail.reason ?? '';
  return [where, timing(detail)].filter(Boolean).join(', ');
}

function boundText(detail: CommandDetail, what = 'bound'): string | undefined {
  return detail.bound === undefined ? undefined : `${what} ${detail.bound}`;
}

function timing(detail: CommandDetail): string {
  if (detail.latencyMs === undefined) return '';
  return detail.roundTripMs === undefined ? `reply ${detail.latencyMs} ms` : `reply ${detail.latencyMs} ms, data ${detail.roundTripMs} ms`;
}

/** What `--fail-on` may name: a row of the table, or `warnings`. */
export const FAIL_ON_CHECKS = ['reachable', 'proxy', 'socks', 'http', 'forward', 'socks5', 'socks4', 'socks4a', 'auth', 'connect', 'bind', 'udp', 'ipv4', 'ipv6', 'domain', 'warnings'] as const;
export type FailOnCheck = (typeof FAIL_ON_CHECKS)[number];

/** The named checks that did not pass: a version not spoken, auth neither ok nor not-required, a command or
 * address type other than ok, any warning. */
export function failedChecks(report: ProbeReport, names: readonly FailOnCheck[]): FailOnCheck[] {
  const passed: Record<FailOnCheck, boolean> = {
    reachable: report.reachable,
    proxy: isProxy(report),
    socks: report.speaksSocks,
    http: isHttpProxy(report),
    forward: report.http?.forward === 'ok',
    socks5: report.versions.socks5,
    socks4: report.versions.socks4,
    socks4a: report.versions.socks4a,
    auth: report.auth === 'ok' || report.auth === 'not-required',
    connect: report.commands.connect === 'ok',
    bind: report.commands.bind === 'ok',
    udp: report.commands.udp === 'ok',
    ipv4: report.addressTypes.ipv4 === 'ok',
    ipv6: report.addressTypes.ipv6 === 'ok',
    domain: report.addressTypes.domain === 'ok',
    warnings: report.findings.length === 0,
  };
  return names.filter((name) => !passed[name]);
}

/** The "HTTP proxy" row and `--fail-on http`: an HTTP proxy alone, or beside SOCKS on the same port (socx
 * serve, gost). A web server that is no proxy has `http` findings too, and is not one. */
export function isHttpProxy(report: Verdictless): boolean {
  return report.kind === 'http-proxy' || (report.speaksSocks && report.http !== undefined);
}

/** An endpoint `socx probe` can talk to as a proxy: exit 0. */
export function isProxy(report: ProbeReport): boolean {
  return report.speaksSocks || report.kind === 'http-proxy';
}
