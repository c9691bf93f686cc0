import type { ConnectionRecord } from '../server/types.ts';

const ms = (value: number | undefined): number | null => (value === undefined ? null : Math.round(value * 1000) / 1000);

/**
 * The record as one line of JSON, every field present (null when it does not apply) so that a log shipper
 * sees one schema. Client-controlled text (target, user) is kept as sent: JSON.stringify escapes control
 * characters and lone surrogates, and the codec decoded the wire's bytes as UTF-8 with replacement, so the
 * line is valid JSON in valid UTF-8 whatever the client sent, and a newline in a name cannot start a line.
 */
export function formatJsonRecord(record: ConnectionRecord): string {
  const { udp } = record;
  return JSON.stringify({
    time: new Date(record.time).toISOString(),
    client: record.client,
    balancer: record.balancer ?? null,
    listener: record.listener,
    version: record.version ?? null,
    method: record.method ?? null,
    command: record.command ?? null,
    target: record.target ?? null,
    user: record.user ?? null,
    outcome: record.outcome,
    reply: record.reply ?? null,
    rule: record.rule ?? null,
    limit: record.limit ?? null,
    upstream: record.upstream ?? null,
    dialed: record.dialed ?? null,
    bound: record.bound ?? null,
    peer: record.peer ?? null,
    result: record.result,
    bytesUp: record.bytesUp,
    bytesDown: record.bytesDown,
    handshakeMs: ms(record.handshakeMs),
    connectMs: ms(record.connectMs),
    durationMs: ms(record.durationMs),
    udp: udp ? { datagramsUp: udp.datagramsUp, datagramsDown: udp.datagramsDown, dropped: udp.dropped, droppedBytes: udp.droppedBytes, drops: udp.drops } : null,
    httpMethod: record.httpMethod ?? null,
    httpStatus: record.httpStatus ?? null,
  });
}
