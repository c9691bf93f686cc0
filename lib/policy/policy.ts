import { AddressSet } from './address-set.ts';
import { HostAddresses } from './host-addresses.ts';
import { isHostName, nameKey } from './host-name.ts';
import { IpKey } from './ip-key.ts';
import { COMMAND_BITS, parseRule, VIA_DIRECT, type Destination, type PolicyCommand, type Rule, type Verdict } from './rule.ts';
import { describeSet, SETS } from './sets.ts';

export type { PolicyCommand, Verdict } from './rule.ts';

/** One thing the server is about to do: dial an address, accept BIND's peer, send a datagram. */
export interface PolicyQuery {
  /** The client's address, as its socket reports it (IPv4-mapped is fine). */
  readonly clientIp: string;
  /** The address itself, after resolution: the one the server then dials (CONNECT), the peer (BIND), the
   * datagram's destination (UDP). Never a name: check each address a lookup returns. */
  readonly destIp: string;
  /** The name the client asked for; undefined when it gave an address (or a numeric name, see
   * normaliseNumericHost). `to=NAME` and `to=*.suffix` terms match this, never destIp. */
  readonly destName: string | undefined;
  readonly port: number;
  readonly command: PolicyCommand;
  /** The name the client authenticated with (RFC 1929); undefined without authentication. A SOCKS4 USERID
   * is not authentication and does not belong here. */
  readonly user: string | undefined;
}

/** A request before any address is known: a name not yet resolved, or UDP ASSOCIATE (no destination yet:
 * destName and port undefined). */
export interface RequestQuery {
  readonly clientIp: string;
  /** The name asked for; undefined when there is no destination yet. */
  readonly destName: string | undefined;
  readonly port: number | undefined;
  readonly command: PolicyCommand;
  readonly user: string | undefined;
}

const refuse = (rule: string): Verdict => ({ allowed: false, rule });
const NOT_AN_ADDRESS = refuse('default: deny (not an IP address)');
const UNSPECIFIED = refuse('default: deny unspecified (not a destination)');
const LOOPBACK = refuse('default: deny loopback (non-loopback listener)');
const LINK_LOCAL = refuse('default: deny link-local (non-loopback listener)');
const THIS_HOST = refuse("default: deny this host's addresses (non-loopback listener)");
const HOST_ADDRESSES = new HostAddresses();
const ALLOW: Verdict = { allowed: true, rule: 'default: allow' };

type Match = 'yes' | 'no' | 'maybe';

/**
 * The destination and client policy (`--allow` / `--deny`): user rules in order, first match wins, around
 * fixed defaults — the unspecified address is refused before any rule (it is not a destination: Linux dials
 * 0.0.0.0 as the host itself); after the rules, a listener that is not loopback-only refuses loopback,
 * link-local and this host's own addresses (the proxy host's own services, the cloud metadata service, the
 * proxy's own listeners); everything else is allowed,
 * private networks included, as reaching them is what a SOCKS server is for.
 *
 * check() runs per connection and per datagram: addresses are read into reused numeric keys and compared
 * with precompiled CIDRs. An IPv4 check allocates nothing (unless a name rule has to fold the asked name's
 * case); IPv6 text goes through the codec's one reader (ipv6ToBytes), which costs about 1 µs.
 */
export class Policy {
  private readonly dest = new IpKey();
  private readonly client = new IpKey();

  private readonly rules: readonly Rule[];
  private readonly hostAddresses: HostAddresses;

  private constructor(rules: readonly Rule[], hostAddresses: HostAddresses) {
    this.rules = rules;
    this.hostAddresses = hostAddresses;
  }

  /** Each rule "allow …" or "deny …", in order; throws a usage error naming the first bad rule. */
  static parse(rules: readonly string[], hostAddresses = HOST_ADDRESSES): Policy {
    return new Policy(rules.map(parseRule), hostAddresses);
  }

  check(query: PolicyQuery, exposedListener: boolean): Verdict {
    const dest = this.dest;
    if (!dest.read(query.destIp)) return NOT_AN_ADDRESS;
    if (SETS.unspecified.has(dest)) return UNSPECIFIED;
    const command = COMMAND_BITS[query.command];
    let clientRead = false;
    let name: string | undefined;
    for (const rule of this.rules) {
      if ((rule.commands & command) === 0 || query.port < rule.portLow || query.port > rule.portHigh) continue;
      if (rule.user !== undefined && rule.user !== query.user) continue;
      if (rule.from !== undefined) {
        if (!clientRead) {
          this.client.read(query.clientIp);
          clientRead = true;
        }
        if (!rule.from.has(this.client)) continue;
      }
      const to = rule.to;
      if (to !== undefined) {
        if (to.kind === 'addresses') {
          if (!to.set.has(dest)) continue;
        } else {
          if (query.destName === undefined) continue;
          name ??= nameKey(query.destName);
          if (!matchesName(to, name)) continue;
        }
      }
      return rule.verdict;
    }
    if (exposedListener) {
      if (SETS.loopback.has(dest)) return LOOPBACK;
      if (SETS['link-local'].has(dest)) return LINK_LOCAL;
      if (this.hostAddresses.has(dest)) return THIS_HOST;
    }
    return ALLOW;
  }

  /**
   * A refusal that holds whatever address the request will reach, so the server can refuse before a lookup
   * (a denied name) or at UDP ASSOCIATE (`deny cmd=udp`); undefined when only check() can tell. It is a
   * rule that matches on what is known, with no allow rule before it that might match.
   */
  precheck(query: RequestQuery): Verdict | undefined {
    this.client.read(query.clientIp);
    const name = query.destName === undefined ? undefined : nameKey(query.destName);
    for (const rule of this.rules) {
      const match = this.matchKnown(rule, query, name);
      if (match === 'no') continue;
      if (rule.verdict.allowed) return undefined;
      if (match === 'yes') return rule.verdict;
    }
    return undefined;
  }

  /**
   * A request for a name that an upstream proxy will resolve (socks5h, socks4a, http): the verdict of the
   * rules that decide on the name alone (to=NAME, to=*.suffix, to=any, rules without to=), or undefined when
   * the first rule that may match needs the address (to=CIDR or a set), or when none matched and the
   * listener's defaults need it (an exposed listener refuses loopback and link-local). The caller then
   * resolves the name here and checks each address with check(), as for a direct connection.
   */
  checkName(query: RequestQuery & { readonly destName: string }, exposedListener: boolean): Verdict | undefined {
    // A name the upstream might read otherwise than the rules do goes to the resolver here, which refuses it.
    if (!isHostName(query.destName)) return undefined;
    this.client.read(query.clientIp);
    const name = nameKey(query.destName);
    for (const rule of this.rules) {
      const match = this.matchKnown(rule, query, name);
      if (match === 'no') continue;
      return match === 'yes' ? rule.verdict : undefined;
    }
    return exposedListener ? undefined : ALLOW;
  }

  /** The upstream names that rules route to (`via=NAME`; `direct` is not one). */
  routeNames(): Set<string> {
    return new Set(this.rules.flatMap((rule) => (rule.verdict.via === undefined || rule.verdict.via === VIA_DIRECT ? [] : [rule.verdict.via])));
  }

  /** Lines for the startup message: the rules in the order they apply, defaults included. */
  summary(exposed: boolean): string[] {
    return [
      `always deny ${describeSet('unspecified')}: not a destination`,
      ...this.rules.map((rule, i) => `rule ${i + 1}: ${rule.verdict.rule}`),
      ...(exposed
        ? [
          `then deny ${describeSet('loopback')}, ${describeSet('link-local')} and this host's addresses (${this.hostAddresses.list().join(', ')}): the listener is not loopback-only (--allow a rule to open them)`,
          `then allow everything else, ${describeSet('private')} included (--deny private to refuse it)`,
        ]
        : ['then allow everything else: the listener is loopback-only']),
    ];
  }

  private matchKnown(rule: Rule, query: RequestQuery, name: string | undefined): Match {
    if ((rule.commands & COMMAND_BITS[query.command]) === 0) return 'no';
    if (rule.user !== undefined && rule.user !== query.user) return 'no';
    if (rule.from !== undefined && !rule.from.has(this.client)) return 'no';
    let match: Match = 'yes';
    if (rule.portLow > 0 || rule.portHigh < 65535) {
      if (query.port === undefined) match = 'maybe';
      else if (query.port < rule.portLow || query.port > rule.portHigh) return 'no';
    }
    const to = rule.to;
    if (to === undefined) return match;
    if (to.kind === 'addresses') return to.set === AddressSet.ANY ? match : 'maybe';
    if (name === undefined) return 'maybe';
    return matchesName(to, name) ? match : 'no';
  }
}

function matchesName(to: Exclude<Destination, { kind: 'addresses' }>, name: string): boolean {
  // `*.example.com` covers example.com itself: a rule that denies a domain's subdomains but not the domain
  // would be a trap.
  return name === to.name || (to.kind === 'suffix' && name.endsWith(to.dotted));
}
