import { safeText, safeWord } from '../safe-text.ts';
import type { ConnectionRecord } from './types.ts';
import type { UdpCounters } from './udp-association.ts';

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)}KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)}MiB`;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)}ms` : `${(ms / 1000).toFixed(2)}s`;
}

/** The datagram counters, and only the drop reasons that happened. */
function udpFields(udp: UdpCounters): string[] {
  const fields = [`udp_up=${udp.datagramsUp}`, `udp_down=${udp.datagramsDown}`, `dropped=${udp.dropped}`];
  if (udp.dropped > 0) fields.push(`dropped_bytes=${udp.droppedBytes}`);
  for (const [reason, count] of Object.entries(udp.drops)) if (count > 0) fields.push(`drop_${reason.replace('-', '_')}=${count}`);
  return fields;
}

/** The result is our words, with spaces; where it quotes the name the client asked for (a lookup's error),
 * that name is written as in the target field. */
function resultText(record: ConnectionRecord): string {
  const result = safeText(record.result || (record.ok ? 'ok' : 'failed'));
  const host = record.target?.slice(0, record.target.lastIndexOf(':'));
  return host?.includes(' ') ? result.replaceAll(safeText(host), safeWord(host)) : result;
}

/** One line per connection (per request on an HTTP keep-alive connection): when it was accepted (ISO 8601,
 * UTC), client (behind a load balancer, the one its PROXY header names; balancer= the load balancer),
 * protocol and command, target, result, bytes each way, duration. The user name is shown, the password never
 * reaches this record. What the client sent (target name, user) is escaped: a newline cannot forge a line,
 * an escape sequence cannot reach the operator's terminal. */
export function formatConnectionRecord(record: ConnectionRecord): string {
  const parts = [
    new Date(record.time).toISOString(),
    record.client,
    record.version === undefined ? '-' : record.version === 'http' ? 'http' : `socks${record.version}`,
    record.command ?? '-',
    record.target === undefined ? '-' : safeWord(record.target),
  ];
  if (record.user !== undefined) parts.push(`user="${safeText(record.user).replaceAll('"', '\\x22')}"`);
  parts.push(resultText(record));
  parts.push(`up=${formatBytes(record.bytesUp)}`, `down=${formatBytes(record.bytesDown)}`, formatDuration(record.durationMs));
  if (record.command === 'bind' && record.bound !== undefined) parts.push(`bound=${record.bound}`);
  if (record.peer !== undefined) parts.push(`peer=${record.peer}`);
  if (record.udp) parts.push(...udpFields(record.udp));
  // An upstream's name is the operator's (--upstream NAME=URL), never its URL, which may hold a password.
  if (record.upstream !== undefined) parts.push(`upstream=${safeText(record.upstream)}`);
  if (record.balancer !== undefined) parts.push(`balancer=${record.balancer}`);
  // HTTP: the method is a token (the codec checked it), the status a number.
  if (record.httpMethod !== undefined) parts.push(`http_method=${record.httpMethod}`);
  if (record.httpStatus !== undefined) parts.push(`status=${record.httpStatus}`);
  return parts.join(' ');
}
