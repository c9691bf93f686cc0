/** The servers `probe --conformance` is run against in CI and for the README's "How servers do": socx serve,
 * microsocks, Dante (BIND and UDP on) and OpenSSH's `ssh -D` (through a throwaway sshd), and socx serve and
 * microsocks again with a user (probed with its credentials, for the RFC 1929 checks), each on a free
 * loopback port. */

import { freePort, requireBinary, startProcess } from '../support/process.ts';
import { startDante, startMicrosocks, startSshd } from '../support/peers.ts';

export interface Server {
  readonly label: string;
  readonly host: string;
  readonly port: number;
  /** user:pass to probe with (-U), for a server that has a user. */
  readonly credentials?: string;
  stop(): Promise<void>;
}

export type SocxStarter = (args: string[]) => Promise<{ host: string; port: number; stop(): Promise<void> }>;

/** The user the servers with authentication have. */
export const USER = { name: 'alice', password: 's3cret' } as const;

/** `ssh -N -D PORT` to a local sshd: OpenSSH's dynamic forwarding, a SOCKS4/5 server inside the ssh client. */
export async function startSshDynamic(): Promise<Server> {
  const sshd = await startSshd();
  try {
    const ssh = requireBinary('ssh', 'openssh-client');
    const port = await freePort('127.0.0.1');
    const proc = await startProcess(ssh, ['-N', '-D', `127.0.0.1:${port}`, '-o', 'ExitOnForwardFailure=yes', ...sshd.sshArgs()], { readyPort: port, timeoutMs: 15_000 });
    return {
      label: 'ssh -D', host: '127.0.0.1', port,
      stop: async () => {
        await proc.stop();
        await sshd.stop();
      },
    };
  } catch (error) {
    await sshd.stop();
    throw error;
  }
}

/** All of them, in the README's column order; on a failure the ones started are stopped. */
export async function startConformanceServers(startSocx: SocxStarter): Promise<Server[]> {
  const starters: Array<() => Promise<Server>> = [
    async () => ({ label: 'socx serve', ...await startSocx([]) }),
    async () => ({ label: 'microsocks', ...await startMicrosocks() }),
    async () => ({ label: 'Dante', ...await startDante({ bind: true, udp: true }) }),
    startSshDynamic,
    async () => ({ label: 'socx serve --auth', credentials: `${USER.name}:${USER.password}`, ...await startSocx(['--auth', `${USER.name}:${USER.password}`]) }),
    async () => ({ label: 'microsocks -u', credentials: `${USER.name}:${USER.password}`, ...await startMicrosocks({ user: USER.name, password: USER.password }) }),
  ];
  const settled = await Promise.allSettled(starters.map((start) => start()));
  const started = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((server) => server.stop()));
    throw failed.reason;
  }
  return started;
}
