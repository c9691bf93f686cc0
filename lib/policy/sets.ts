import { AddressSet, parseCidr, type Cidr } from './address-set.ts';

export const SET_NAMES = ['loopback', 'private', 'link-local', 'unspecified', 'multicast', 'any'] as const;
export type SetName = (typeof SET_NAMES)[number];

/** The cloud metadata services: AWS, GCP, Azure, Oracle, OpenStack, DigitalOcean (169.254.169.254), AWS over
 * IPv6 (fd00:ec2::254, inside fc00::/7), Alibaba Cloud (100.100.100.200, inside 100.64.0.0/10). They are
 * link-local in spirit (each host reaches its own), so they belong to `link-local` and NOT to `private`:
 * `--allow private` must not open the metadata service. */
const METADATA = ['fd00:ec2::254', '100.100.100.200'];

/** The members of each named set, as written in the startup lines and the README. */
export const SET_MEMBERS: Readonly<Record<Exclude<SetName, 'any'>, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1'],
  // RFC 1918, RFC 6598 shared address space (carrier-grade NAT), RFC 4193 unique local addresses.
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'],
  // RFC 3927 and RFC 4291 §2.5.6; 169.254.169.254 is inside 169.254.0.0/16.
  'link-local': ['169.254.0.0/16', 'fe80::/10', ...METADATA],
  // RFC 1122 §3.2.1.3 "this network": Linux dials 0.0.0.0 (and ::) as the host itself.
  unspecified: ['0.0.0.0/8', '::'],
  multicast: ['224.0.0.0/4', 'ff00::/8'],
};

function cidrs(texts: readonly string[]): Cidr[] {
  return texts.map((text) => {
    const cidr = parseCidr(text);
    if (typeof cidr !== 'object') throw new TypeError(`bad CIDR in a named set: ${text}`);
    return cidr;
  });
}

export const SETS: Readonly<Record<SetName, AddressSet>> = {
  loopback: AddressSet.of(cidrs(SET_MEMBERS.loopback)),
  private: AddressSet.of(cidrs(SET_MEMBERS.private), AddressSet.of(cidrs(METADATA))),
  'link-local': AddressSet.of(cidrs(SET_MEMBERS['link-local'])),
  unspecified: AddressSet.of(cidrs(SET_MEMBERS.unspecified)),
  multicast: AddressSet.of(cidrs(SET_MEMBERS.multicast)),
  any: AddressSet.ANY,
};

export function isSetName(text: string): text is SetName {
  return (SET_NAMES as readonly string[]).includes(text);
}

/** "link-local (169.254.0.0/16, fe80::/10, …)", for the startup lines. */
export function describeSet(name: Exclude<SetName, 'any'>): string {
  return `${name} (${SET_MEMBERS[name].join(', ')})`;
}
