import type { ConnectionRecord } from './types.ts';

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)}KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)}MiB`;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)}ms` : `${(ms / 1000).toFixed(2)}s`;
}

/** One line per connection: client, protocol and command, target, result, bytes each way, duration. The
 * user name is shown, the password never reaches this record. */
export function formatConnectionRecord(record: ConnectionRecord): string {
  const parts = [
    record.client,
    record.version ? `socks${record.version}` : '-',
    record.command ?? '-',
    record.target ?? '-',
  ];
  if (record.user !== undefined) parts.push(`user=${JSON.stringify(record.user)}`);
  parts.push(record.result || (record.ok ? 'ok' : 'failed'));
  parts.push(`up=${formatBytes(record.bytesUp)}`, `down=${formatBytes(record.bytesDown)}`, formatDuration(record.durationMs));
  for (const [key, value] of Object.entries(record.extra)) parts.push(`${key}=${value}`);
  return parts.join(' ');
}
