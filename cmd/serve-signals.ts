import { describeError } from '../lib/errors.ts';
import type { SocksServer } from '../lib/server/server.ts';
import { printError, printStatus } from './output.ts';
import { formatStatus } from './serve-status.ts';

export interface SignalActions {
  /** Reads the settings again and applies them to new connections; throws (a usage error) when they are bad. */
  reload(): { users: number; restart: boolean };
  graceMs(): number;
  quiet(): boolean;
}

/**
 * The signals of a running server:
 * - SIGINT/SIGTERM stop accepting and give open connections the grace period; a second SIGINT exits at once.
 * - SIGHUP re-reads the config file and the users file (users, rules, limits, timeouts); connections already
 *   open keep the settings they started with; a bad file is one line on stderr and the old settings stay.
 * - SIGUSR1 prints the status. Having a listener also keeps Node from opening its inspector on this signal
 *   (the single executable is built with --disable-sigusr1 as well, for the moment before this runs).
 */
export function watchServeSignals(server: SocksServer, actions: SignalActions): { stopped: Promise<void>; dispose(): void } {
  const hup = (): void => {
    try {
      const { users, restart } = actions.reload();
      printStatus(`SIGHUP: settings reloaded (${users} user(s)); open connections keep the settings they started with`);
      if (restart) printStatus('SIGHUP: listener changes need a restart; still listening on the old addresses');
    } catch (error) {
      printError(`SIGHUP: reload failed, keeping the old settings: ${describeError(error)}`);
    }
  };
  const usr1 = (): void => { process.stderr.write(formatStatus(server.status(), Date.now())); };
  const dispose = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.off('SIGHUP', hup);
    process.off('SIGUSR1', usr1);
  };
  let done!: () => void;
  const stopped = new Promise<void>((resolve) => { done = resolve; });
  function stop(signal: NodeJS.Signals): void {
    dispose();
    // Keep SIGUSR1 handled to the end: without a listener Node would open the inspector.
    process.on('SIGUSR1', usr1);
    const graceMs = actions.graceMs();
    if (!actions.quiet()) printStatus(`${signal}: no longer accepting; ${server.connections} open connection(s) have ${graceMs} ms to finish`);
    process.once('SIGINT', () => { printError('second interrupt: closing now'); process.exit(0); });
    void server.close(graceMs).then(done);
  }
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', hup);
  process.on('SIGUSR1', usr1);
  return { stopped, dispose };
}
