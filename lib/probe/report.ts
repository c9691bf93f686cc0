import type { CommandDetail, CommandStatus } from './commands.ts';

export type AuthResult = 'ok' | 'failed' | 'not-required' | 'not-tested';
/** 'socks' for a SOCKS endpoint; otherwise what answered instead, or why nothing did. */
export type EndpointKind = 'socks' | 'http' | 'silent' | 'closed-at-once' | 'other' | 'refused' | 'unreachable';

/** What `socx probe --json` prints (the first seven keys are the contract's). */
export interface ProbeReport {
  readonly reachable: boolean;
  readonly versions: { readonly socks4: boolean; readonly socks4a: boolean; readonly socks5: boolean };
  readonly methods: { readonly none: boolean; readonly gssapi: boolean; readonly userpass: boolean };
  readonly auth: AuthResult;
  readonly commands: { readonly connect: CommandStatus; readonly bind: CommandStatus; readonly udp: CommandStatus };
  /** The SOCKS5 greeting round trip; null when there was none. */
  readonly latencyMs: number | null;
  /** The proxy URL, without credentials. */
  readonly proxy: string;
  readonly speaksSocks: boolean;
  readonly kind: EndpointKind;
  /** Why the endpoint is unreachable or not SOCKS; why auth failed or was not tested. */
  readonly reason?: string;
  /** Where CONNECT went. */
  readonly target?: string;
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
  if (!report.speaksSocks) return `not a SOCKS proxy: ${report.reason ?? report.kind}`;
  const versions = [report.versions.socks5 && 'SOCKS5', report.versions.socks4 && 'SOCKS4', report.versions.socks4a && 'SOCKS4a'].filter(Boolean).join(', ');
  const auth = {
    'not-required': 'no authentication',
    ok: 'username/password accepted',
    failed: 'credentials rejected',
    'not-tested': 'authentication required, not tested',
  }[report.auth];
  const names = { connect: 'CONNECT', bind: 'BIND', udp: 'UDP' } as const;
  const byStatus = (status: CommandStatus): string[] => (Object.keys(names) as Array<keyof typeof names>).filter((name) => report.commands[name] === status).map((name) => names[name]);
  const parts = [`${versions} (${auth})`];
  for (const [status, label] of [['ok', 'work'], ['refused', 'refused'], ['untested', 'untested']] as const) {
    const list = byStatus(status);
    if (list.length > 0) parts.push(`${list.join(', ')} ${label === 'work' && list.length === 1 ? 'works' : label}`);
  }
  if (report.findings.length > 0) parts.push(`${report.findings.length} warning${report.findings.length === 1 ? '' : 's'}`);
  return parts.join('; ');
}

export interface Grid {
  readonly header: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

/** The table `socx probe` prints: one check a row, its result, and the detail behind it. */
export function probeGrid(report: ProbeReport): Grid {
  const rows: string[][] = [['Reachable', yesNo(report.reachable), report.reachable ? report.proxy : report.reason ?? '']];
  if (!report.reachable) return { header: ['Check', 'Result', 'Detail'], rows };
  rows.push(['Speaks SOCKS', yesNo(report.speaksSocks), report.speaksSocks ? '' : `${report.kind}: ${report.reason ?? ''}`]);
  if (report.speaksSocks) {
    rows.push(
      ['SOCKS5', yesNo(report.versions.socks5), report.latencyMs === null ? '' : `greeting ${report.latencyMs} ms`],
      ['SOCKS4', yesNo(report.versions.socks4), versionDetail(report.details.socks4)],
      ['SOCKS4a', yesNo(report.versions.socks4a), versionDetail(report.details.socks4a)],
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
  for (const finding of report.findings) rows.push(['Warning', '!', finding]);
  return { header: ['Check', 'Result', 'Detail'], rows };
}

const accepted = (value: boolean): string => (value ? 'accepted' : 'not accepted');

function versionDetail(detail: CommandDetail): string {
  return detail.status === 'ok' ? timing(detail) : detail.reply ?? detail.reason ?? '';
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
