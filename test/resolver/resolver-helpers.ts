/** Shared by the resolver suites: a lookup as a promise with a limit, and a temporary hosts file. */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ResolvedAddress, Resolver } from '../../lib/resolver/types.ts';
import { withTimeout, WAIT_MS } from '../helpers/net.ts';

export interface Outcome {
  readonly code: string | undefined;
  readonly message: string | undefined;
  readonly addresses: readonly ResolvedAddress[];
}

/** Starts a lookup and gives its outcome; `answered` tells whether it came yet (for "still waiting" checks). */
export function startLookup(resolver: Resolver, host: string, client = '192.0.2.1'): { readonly outcome: Promise<Outcome>; answered(): boolean } {
  let done = false;
  const outcome = new Promise<Outcome>((resolve) => {
    resolver.lookup(host, client, (error, addresses) => {
      done = true;
      resolve({ code: error?.code, message: error?.message, addresses });
    });
  });
  return { outcome, answered: () => done };
}

export function lookupOnce(resolver: Resolver, host: string, client?: string): Promise<Outcome> {
  return withTimeout(startLookup(resolver, host, client).outcome, WAIT_MS, `the lookup of ${host}`);
}

export function addressesOf(outcome: Outcome): string[] {
  return outcome.addresses.map((a) => a.address);
}

export interface TempHosts {
  readonly path: string;
  write(text: string): void;
  remove(): void;
  cleanup(): void;
}

export function tempHosts(text: string): TempHosts {
  const dir = mkdtempSync(path.join(tmpdir(), 'socx-hosts-'));
  const file = path.join(dir, 'hosts');
  const hosts: TempHosts = {
    path: file,
    write(content) { writeFileSync(file, content); },
    remove() { rmSync(file, { force: true }); },
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
  hosts.write(text);
  return hosts;
}
