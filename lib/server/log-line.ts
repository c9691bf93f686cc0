import { safeText } from '../safe-text.ts';
import type { ConnectionRecord } from './types.ts';

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)}KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)}MiB`;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)}ms` : `${(ms / 1000).toFixed(2)}s`;
}

/** One line per connection: client (behind a load balancer, the one its PROXY header names; via= the
 * balancer), protocol and command, target, result, bytes each way, duration. The
 * user name is shown, the password never reaches this record. What the client sent (target name, user) is
 * escaped: a newline cannot forge a line, an escape sequence cannot reach the operator's terminal. */
export function formatConnectionRecord(record: ConnectionRecord): string {
  const parts = [
    record.client,
    record.version ? `socks${record.version}` : '-',
    record.command ?? '-',
    // A space in a name would make a field of its own.
    record.target === undefined ? '-' : safeText(record.target).replaceAll(' ', '\\x20'),
  ];
  if (record.user !== undefined) parts.push(`user="${safeText(record.user).replaceAll('"', '\\x22')}"`);
  parts.push(safeText(record.result || (record.ok ? 'ok' : 'failed')));
  parts.push(`up=${formatBytes(record.bytesUp)}`, `down=${formatBytes(record.bytesDown)}`, formatDuration(record.durationMs));
  if (record.via !== undefined) parts.push(`via=${record.via}`);
  for (const [key, value] of Object.entries(record.extra)) parts.push(`${key}=${typeof value === 'string' ? safeText(value) : value}`);
  return parts.join(' ');
}
