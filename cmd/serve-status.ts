import type { ServerStatus } from '../lib/server/server.ts';
import { totalStatus, type WorkerAnswer } from '../lib/server/workers.ts';

const formatBytes = (bytes: number): string => {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (bytes >= size) return `${(bytes / size).toFixed(1)} ${unit}`;
  return `${bytes} B`;
};

function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const parts = [[Math.floor(s / 86_400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'm'], [s % 60, 's']] as const;
  const first = parts.findIndex(([n]) => n > 0);
  return first < 0 ? '0s' : parts.slice(first).map(([n, unit]) => `${n}${unit}`).join(' ');
}

/** SIGUSR1's one screen. */
export function formatStatus(status: ServerStatus, now: number): string {
  const { connections: c } = status;
  const lines = [
    `status: up ${formatUptime(now - status.startedAt)} (since ${new Date(status.startedAt).toISOString()})`,
    `  connections: ${c.total} open: ${c.handshake} in handshake, ${c.relaying} past it (connecting or relaying)`,
    `  traffic: ${formatBytes(status.bytesUp)} from clients, ${formatBytes(status.bytesDown)} to clients`,
    status.topClients.length === 0 ? '  clients: none connected' : '  top clients:',
    ...status.topClients.map(([ip, count]) => `    ${ip.padEnd(39)} ${count}`),
  ];
  return lines.map((line) => `socx: ${line}\n`).join('');
}

/** SIGUSR1 under `--workers`: the totals, then one line per worker (its pid, to tell them apart in ps and
 * logs). */
export function formatWorkersStatus(answers: ReadonlyArray<WorkerAnswer<ServerStatus>>, startedAt: number, now: number): string {
  const statuses = answers.flatMap((answer) => (answer.value === undefined ? [] : [answer.value]));
  const lines = answers.map(({ worker, pid, value }) => (value === undefined
    ? `  worker ${worker} (pid ${pid}): no answer`
    : `  worker ${worker} (pid ${pid}): ${value.connections.total} open, ${value.connections.handshake} in handshake; up ${formatUptime(now - value.startedAt)}; ${formatBytes(value.bytesUp)} from clients, ${formatBytes(value.bytesDown)} to clients`));
  return formatStatus(totalStatus(statuses, startedAt), now) + lines.map((line) => `socx: ${line}\n`).join('');
}
