import { networkInterfaces } from 'node:os';
import { AddressSet, parseCidr, type Cidr } from './address-set.ts';
import type { IpKey } from './ip-key.ts';

/** Interfaces come and go (DHCP, VPNs, container bridges) without telling us. */
const REREAD_MS = 10_000;

export type InterfaceReader = () => ReturnType<typeof networkInterfaces>;

/**
 * The addresses of this machine's own interfaces, for the exposed listener's defaults: a client must not
 * reach the proxy host's services through its public address any more than through loopback, nor dial the
 * proxy's own listener to loop through it (each hop a new connection, attributed to the host itself). Read
 * again when asked after REREAD_MS; a read costs a getifaddrs(3), an answer a scan of a few CIDRs.
 */
export class HostAddresses {
  readonly #read: InterfaceReader;
  readonly #now: () => number;
  #set = AddressSet.of([]);
  #list: readonly string[] = [];
  #readAt = Number.NEGATIVE_INFINITY;

  constructor(read: InterfaceReader = networkInterfaces, now: () => number = () => performance.now()) {
    this.#read = read;
    this.#now = now;
  }

  has(key: IpKey): boolean {
    this.#fresh();
    return this.#set.has(key);
  }

  /** The addresses as last read, for the startup lines. */
  list(): readonly string[] {
    this.#fresh();
    return this.#list;
  }

  #fresh(): void {
    const now = this.#now();
    if (now - this.#readAt < REREAD_MS) return;
    this.#readAt = now;
    const addresses = Object.values(this.#read()).flatMap((entries) => (entries ?? []).map((entry) => entry.address));
    const cidrs = addresses.map((address) => parseCidr(address)).filter((cidr): cidr is Cidr => typeof cidr === 'object');
    this.#set = AddressSet.of(cidrs);
    this.#list = [...new Set(addresses)];
  }
}
