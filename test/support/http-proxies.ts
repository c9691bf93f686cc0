// Third-party HTTP proxies (Debian's tinyproxy and squid) in the foreground, each from its own temp dir with a
// config of ours on a free loopback port; stopped by PID. A missing binary is an error, never a skip.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Peer } from './peers.ts';
import { freePort, requireBinary, startProcess, type Started } from './process.ts';

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 15_000;

export interface HttpProxyPeer extends Peer {
  output(): string;
}

/** tinyproxy: CONNECT to any port (no ConnectPort line), plain forwarding, and with `user` BasicAuth, which
 * answers 407 without credentials and 401 to wrong ones. */
export function startTinyproxy(opts: { user?: string; password?: string } = {}): Promise<HttpProxyPeer> {
  const bin = requireBinary('tinyproxy');
  return startInTempDir('tinyproxy', async (dir, port) => {
    const conf = path.join(dir, 'tinyproxy.conf');
    await writeFile(conf, [
      `Port ${port}`,
      `Listen ${HOST}`,
      'Timeout 30',
      'LogLevel Warning',
      'MaxClients 64',
      `Allow ${HOST}`,
      ...(opts.user === undefined ? [] : [`BasicAuth ${opts.user} ${opts.password ?? ''}`]),
      '',
    ].join('\n'));
    return startProcess(bin, ['-d', '-c', conf], { readyPort: port, timeoutMs: START_TIMEOUT_MS });
  });
}

/** squid: CONNECT to any port (Debian's own config allows only 443), nothing cached or logged to disk but its
 * cache.log, its pid file in the temp dir, no pinger helper. */
export function startSquid(): Promise<HttpProxyPeer> {
  const bin = requireBinary('/usr/sbin/squid', 'squid');
  return startInTempDir('squid', async (dir, port) => {
    const conf = path.join(dir, 'squid.conf');
    await writeFile(conf, [
      `http_port ${HOST}:${port}`,
      `pid_filename ${path.join(dir, 'squid.pid')}`,
      `cache_log ${path.join(dir, 'cache.log')}`,
      `coredump_dir ${dir}`,
      'access_log none',
      'cache deny all',
      'cache_mem 8 MB',
      'pinger_enable off',
      'shutdown_lifetime 0 seconds',
      `acl local src ${HOST}/32`,
      'http_access allow local',
      'http_access deny all',
      '',
    ].join('\n'));
    return startProcess(bin, ['-N', '-f', conf], { readyPort: port, timeoutMs: START_TIMEOUT_MS });
  });
}

async function startInTempDir(name: string, start: (dir: string, port: number) => Promise<Started>): Promise<HttpProxyPeer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `socx-${name}-`));
  let last: unknown;
  // freePort() is racy: a port taken before the proxy binds makes it exit early; a fresh port then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort(HOST);
    try {
      const proc = await start(dir, port);
      let stopping: Promise<void> | undefined;
      const stop = (): Promise<void> => (stopping ??= proc.stop().finally(() => rm(dir, { recursive: true, force: true })));
      return { host: HOST, port, stop, output: proc.output };
    } catch (error) {
      last = error;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw last;
}
