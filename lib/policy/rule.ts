import { usageError } from '../errors.ts';
import { AddressSet, parseCidr } from './address-set.ts';
import { nameKey, normaliseNumericHost } from './host-name.ts';
import { parseInetAton } from './ip-key.ts';
import { isSetName, SET_NAMES, SETS } from './sets.ts';

export type PolicyCommand = 'connect' | 'bind' | 'udp';

/** Commands as bits, so a rule's `cmd=` is one AND. */
export const COMMAND_BITS: Readonly<Record<PolicyCommand, number>> = { connect: 1, bind: 2, udp: 4 };
const COMMANDS = new Map<string, number>(Object.entries(COMMAND_BITS));
const ALL_COMMANDS = 7;

export interface Verdict {
  readonly allowed: boolean;
  /** The rule that decided, as written ("deny to=private"), or the default ("default: allow"). */
  readonly rule: string;
  /** An allow rule's `via=`: `direct`, or the name of an upstream (serve --upstream NAME=URL); undefined:
   * the default route (the unnamed upstreams, else direct). */
  readonly via?: string | undefined;
}

/** Where a rule's `to=` points: addresses (a CIDR or a set), one name, or a name and everything under it. */
export type Destination =
  | { readonly kind: 'addresses'; readonly set: AddressSet }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'suffix'; readonly name: string; readonly dotted: string };

/** One rule, compiled: a term that was not given matches anything (all commands, ports 0-65535, …). */
export interface Rule {
  readonly verdict: Verdict;
  readonly commands: number;
  readonly portLow: number;
  readonly portHigh: number;
  readonly user: string | undefined;
  readonly from: AddressSet | undefined;
  readonly to: Destination | undefined;
}

const KEYS = ['to', 'port', 'from', 'cmd', 'user', 'via'] as const;

/** `via=direct` bypasses the upstreams; any other value names one (serve --upstream NAME=URL). */
export const VIA_DIRECT = 'direct';
export const ROUTE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
type Key = (typeof KEYS)[number];

/**
 * "allow|deny TERM…": space-separated key=value terms that must all match (../shared/CONTRACT.md); a bare
 * value is `to=`. A key may appear once: two `to=` terms could only mean "both", which no destination is,
 * so it is an error rather than a rule that never matches (write two rules, or use a set).
 */
export function parseRule(text: string): Rule {
  const [action = '', ...terms] = text.trim().split(/\s+/);
  const written = [action, ...terms].join(' ');
  const fail: (why: string) => never = (why) => { throw usageError(`bad rule "${printable(written)}": ${why}`); };
  // The rule is echoed in startup lines and logs: no terminal control there (C0, DEL, C1).
  if (/[\x00-\x1f\x7f-\x9f]/.test(written)) fail('control characters are not allowed in a rule');
  if (action !== 'allow' && action !== 'deny') fail('a rule starts with allow or deny');
  const nothingToMatch = `nothing to match: name at least one of ${KEYS.filter((k) => k !== 'via').map((k) => `${k}=`).join(', ')} (or "any")`;
  if (terms.length === 0) fail(nothingToMatch);
  const values = new Map<Key, string>();
  for (const term of terms) {
    const equals = term.indexOf('=');
    const key = equals < 0 ? 'to' : term.slice(0, equals);
    const value = equals < 0 ? term : term.slice(equals + 1);
    if (!isKey(key)) fail(`unknown term "${printable(term)}": the keys are ${KEYS.join(', ')}`);
    if (values.has(key)) fail(`${key}= given twice: a rule's terms must all match, so write two rules`);
    if (value === '') fail(`${key}= needs a value`);
    values.set(key, value);
  }
  const termFail = (key: Key, why: string): never => fail(`${key}=${printable(values.get(key) ?? '')}: ${why}`);
  const via = values.get('via');
  if (via !== undefined) {
    // A route is chosen by what the rule allows; a refused request goes nowhere.
    if (action !== 'allow') termFail('via', 'only allow rules choose a route');
    if (!ROUTE_NAME.test(via)) termFail('via', 'expected direct or the name of an upstream (serve --upstream NAME=URL)');
    if (terms.length === 1) fail(`${nothingToMatch} beside via=`);
  }
  const port = values.get('port');
  const [portLow, portHigh] = port === undefined ? [0, 65535] : parsePorts(port) ?? termFail('port', 'expected a port (0-65535) or a range N-M');
  const cmd = values.get('cmd');
  const commands = cmd === undefined ? ALL_COMMANDS : COMMANDS.get(cmd) ?? termFail('cmd', 'expected connect, bind or udp');
  const from = values.get('from');
  const to = values.get('to');
  return {
    verdict: via === undefined ? { allowed: action === 'allow', rule: written } : { allowed: true, rule: written, via },
    commands,
    portLow,
    portHigh,
    user: values.get('user'),
    from: from === undefined ? undefined : parseAddresses(from, (why) => termFail('from', why), `a CIDR or ${SET_LIST}`),
    to: to === undefined ? undefined : parseDestination(to, (why) => termFail('to', why)),
  };
}

function isKey(key: string): key is Key {
  return (KEYS as readonly string[]).includes(key);
}

function parsePorts(text: string): [number, number] | undefined {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!match) return undefined;
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  return high <= 65535 && low <= high ? [low, high] : undefined;
}

const SET_LIST = `a set (${SET_NAMES.join(', ')})`;

function parseAddresses(text: string, fail: (why: string) => never, expected: string): AddressSet {
  // Set names in any case: "Private" must not quietly become a host name.
  const lower = text.toLowerCase();
  if (isSetName(lower)) return SETS[lower];
  const cidr = parseCidr(text);
  if (typeof cidr === 'string') return fail(cidr);
  if (cidr !== undefined) return AddressSet.of([cidr]);
  // "127.1" is an address to getaddrinfo, but a rule spells addresses one way only.
  const numeric = normaliseNumericHost(text.split('/')[0] ?? '');
  return fail(numeric === undefined || numeric.includes(':') ? `expected ${expected}` : `write IPv4 addresses as a.b.c.d (this is ${numeric})`);
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

function parseDestination(text: string, fail: (why: string) => never): Destination {
  const expected = `a CIDR, a host name, *.suffix or ${SET_LIST}`;
  if (isSetName(text.toLowerCase()) || text.includes('/') || text.includes(':') || parseInetAton(text) >= 0) {
    return { kind: 'addresses', set: parseAddresses(text, fail, expected) };
  }
  const wildcard = text.startsWith('*.');
  const name = nameKey(wildcard ? text.slice(2) : text);
  const labels = name.split('.');
  if (name.length > 253 || !labels.every((label) => LABEL.test(label)) || /^(\d+|0x[0-9a-f]*)$/.test(labels.at(-1) ?? '')) {
    fail(`expected ${expected}`);
  }
  return wildcard ? { kind: 'suffix', name, dotted: `.${name}` } : { kind: 'name', name };
}

/** Operator text, shown on one line whatever it holds. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
