import type { ProxyConfig } from '../client/proxy-url.ts';
import type { ProbeTargets } from './targets.ts';
import type { TokenTarget } from './token-target.ts';

export type CheckResult = 'pass' | 'fail' | 'n/a';

/** One line of `socx probe --conformance`: the contract's `id`, `result`, `rfc` and `evidence`, and a title. */
export interface ConformanceCheck {
  readonly id: string;
  readonly result: CheckResult;
  readonly rfc: string;
  readonly title: string;
  /** The bytes that decided it, in hex, or what happened instead. */
  readonly evidence: string;
}

export type Outcome = { readonly result: CheckResult; readonly evidence: string };

export const pass = (evidence: string): Outcome => ({ result: 'pass', evidence });
export const fail = (evidence: string): Outcome => ({ result: 'fail', evidence });
export const notApplicable = (evidence: string): Outcome => ({ result: 'n/a', evidence });

/** How SOCKS5 requests get past the greeting on this proxy: the method it picks when offered it alone
 * (no-auth, else username/password with the given credentials), or why they cannot. */
export type Socks5Access = { readonly method: number } | { readonly reason: string };

export interface ConformanceContext {
  readonly proxy: ProxyConfig;
  readonly timeoutMs: number;
  /** The longest a stalled handshake may stay open; 0 skips that check. */
  readonly deadlineMs: number;
  readonly targets: ProbeTargets;
  readonly tokens: TokenTarget;
  readonly socks5: Socks5Access;
  /** Whether the proxy answers a SOCKS4 request with a SOCKS4 reply; else why SOCKS4 checks are n/a. */
  readonly socks4: true | { readonly reason: string };
}
