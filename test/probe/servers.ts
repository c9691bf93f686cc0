/** The four servers `probe --conformance` is run against in CI and for the README's "How servers do": socx
 * serve, microsocks, Dante (BIND and UDP on) and OpenSSH's `ssh -D` (through a throwaway sshd), each on a
 * free loopback port. */

import { freePort, requireBinary, startProcess } from '../support/process.ts';
import { startDante, startMicrosocks, startSshd } from '../support/peers.ts';

export interface Server {
  readonly label: string;
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
}

export type SocxStarter = () => Promise<{ host: string; port: number; stop(): Promise<void> }>;

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

/** All four, in the README's column order; on a failure the ones started are stopped. */
export async function startConformanceServers(startSocx: SocxStarter): Promise<Server[]> {
  const starters: Array<() => Promise<Server>> = [
    async () => ({ label: 'socx serve', ...await startSocx() }),
    async () => ({ label: 'microsocks', ...await startMicrosocks() }),
    async () => ({ label: 'Dante', ...await startDante({ bind: true, udp: true }) }),
    startSshDynamic,
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
