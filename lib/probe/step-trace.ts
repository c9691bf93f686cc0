import type { Trace } from '../client/hop.ts';

/** The probe runs its steps at once: each trace line names its step, `[connect] > socks5 greeting …`. */
export function labelled<T extends { readonly trace?: Trace | undefined }>(options: T, step: string): T {
  const { trace } = options;
  return trace ? { ...options, trace: (line: string) => trace(`[${step}] ${line}`) } : options;
}
