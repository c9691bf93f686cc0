import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { FileStamp } from './file-stamp.ts';
import { orderByFamily, type FamilyOrder, type ResolvedAddress } from './types.ts';

export const HOSTS_FILE = '/etc/hosts';

/** hosts(5): "IP canonical-name aliases…", '#' starts a comment; names are case-insensitive. Lines whose
 * first field is not an IP are skipped, as the C library does. Addresses keep the file's order within a
 * family, so the first line for a name wins, as with getaddrinfo. */
export function parseHosts(text: string, order: FamilyOrder): Map<string, readonly ResolvedAddress[]> {
  const found = new Map<string, ResolvedAddress[]>();
  for (const line of text.split('\n')) {
    const fields = (line.split('#', 1)[0] ?? '').trim().split(/\s+/);
    const address = fields[0] ?? '';
    const family = isIP(address);
    if (family === 0) continue;
    for (const name of fields.slice(1)) {
      const key = hostKey(name);
      const list = found.get(key) ?? [];
      if (!list.some((a) => a.address === address)) list.push({ address, family: family === 6 ? 6 : 4 });
      found.set(key, list);
    }
  }
  const ordered = new Map<string, readonly ResolvedAddress[]>();
  for (const [name, list] of found) ordered.set(name, orderByFamily(list, order));
  return ordered;
}

/** How a name is compared: lower case, without the root's trailing dot ("LocalHost." is "localhost"). */
export function hostKey(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** The hosts file, parsed once and again only when it changes (checked at most every `checkIntervalMs`), so
 * `localhost` and local names never wait for a name server or for a thread. */
export class HostsFile {
  readonly #stamp: FileStamp;
  readonly #order: FamilyOrder;
  #names = new Map<string, readonly ResolvedAddress[]>();

  constructor(path: string, order: FamilyOrder, checkIntervalMs: number) {
    this.#stamp = new FileStamp(path, checkIntervalMs);
    this.#order = order;
  }

  /** The addresses for a name (already a hostKey), or undefined when the file does not list it. */
  get(key: string): readonly ResolvedAddress[] | undefined {
    if (this.#stamp.changed()) this.#names = this.#read();
    return this.#names.get(key);
  }

  #read(): Map<string, readonly ResolvedAddress[]> {
    let text: string;
    try {
      text = readFileSync(this.#stamp.path, 'utf8');
    } catch {
      return new Map(); // unreadable or gone: every name goes to the name servers, as with no hosts file
    }
    return parseHosts(text, this.#order);
  }
}
