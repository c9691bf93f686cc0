import { readdirSync, readFileSync } from 'node:fs';

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

/** Descriptors this process has open (Linux): a count, 'all' when not even the directory can be opened,
 * or undefined. A readdir: for a check now and then, not per connection. */
export function openFileCount(): number | 'all' | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EMFILE' || code === 'ENFILE' ? 'all' : undefined;
  }
}
