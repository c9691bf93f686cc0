import { readFileSync } from 'node:fs';

/** The soft RLIMIT_NOFILE, from /proc (Node has no getrlimit); undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors kept back for the process itself: listeners, log files, DNS, the metrics port. */
const RESERVED_FDS = 64;

/**
 * Limits sized from the fd limit: a relayed connection holds two descriptors (client and upstream), so at
 * most half of what is left can be connections; BIND and UDP take more, and have their own per-IP caps.
 * A quarter of the connections may be in their handshake at once, so that stalled handshakes cannot crowd
 * out established relays.
 */
export function defaultLimits(fdLimit = openFileLimit() ?? 1024): { maxConnections: number; maxPendingHandshakes: number } {
  const maxConnections = Math.max(16, Math.floor((fdLimit - RESERVED_FDS) / 2));
  return { maxConnections, maxPendingHandshakes: Math.max(8, Math.floor(maxConnections / 4)) };
}
