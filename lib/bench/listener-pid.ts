import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * The process listening on a local TCP port, found through /proc (Linux): the socket's inode from
 * /proc/net/tcp{,6}, then the process holding it. When several do (a forking server's children inherit the
 * listener), the one whose parent does not hold it: its process tree is the whole server. Undefined
 * anywhere this cannot be told (another OS, another user's process).
 */
export function findListenerPid(port: number): number | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  const holders = new Map<number, number>();
  for (const pid of numericEntries('/proc')) {
    if (holdsSocket(pid, inodes)) holders.set(pid, parentPid(pid) ?? 0);
  }
  for (const [pid, ppid] of holders) if (!holders.has(ppid)) return pid;
  return undefined;
}

const LISTEN = '0A';

function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === LISTEN && fields[1]?.endsWith(`:${hexPort}`) && fields[9]) inodes.add(fields[9]);
    }
  }
  return inodes;
}

function holdsSocket(pid: number, inodes: Set<string>): boolean {
  for (const fd of numericEntries(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match && inodes.has(match[1]!)) return true;
  }
  return false;
}

/** The parent of `pid`, from /proc (Linux); undefined once it has gone. */
export function parentPid(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may hold spaces; the parent is field 4.
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function numericEntries(dir: string): number[] {
  try {
    return readdirSync(dir).filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return [];
  }
}
