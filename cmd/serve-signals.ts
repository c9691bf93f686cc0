import { describeError } from '../lib/errors.ts';
import { printError, printStatus } from './output.ts';

/** What the signals act on: one SocksServer, or the workers of `--workers`. */
export interface SignalTarget {
  /** Open connections now; undefined when they are counted in other processes. */
  readonly connections: number | undefined;
  /** A second call ends the grace now and resolves with the first. */
  close(graceMs: number): Promise<void>;
}

export interface SignalActions {
  /** Reads the settings again and applies them to new connections; throws (a usage error) when they are bad. */
  reload(): Reloaded | Promise<Reloaded>;
  /** SIGUSR1's text. */
  status(): string | Promise<string>;
  graceMs(): number;
  quiet(): boolean;
}

interface Reloaded {
  readonly users: number;
  readonly restart: boolean;
}

/**
 * The signals of a running server:
 * - SIGINT/SIGTERM stop accepting and give open connections the grace period; a second one ends it now.
 * - SIGHUP re-reads the config file and the users file (users, rules, limits, timeouts); connections already
 *   open keep the settings they started with; a bad file is one line on stderr and the old settings stay.
 * - SIGUSR1 prints the status. Having a listener also keeps Node from opening its inspector on this signal
 *   (for the moment before any listener, the single executable pins the inspector to an address no machine
 *   has: scripts/sea.ts).
 */
export function watchServeSignals(server: SignalTarget, actions: SignalActions): { stopped: Promise<void>; dispose(): void } {
  const hup = (): void => {
    new Promise<Reloaded>((resolve) => { resolve(actions.reload()); }).then(({ users, restart }) => {
      printStatus(`SIGHUP: settings reloaded (${users} user(s)); open connections keep the settings they started with`);
      if (restart) printStatus('SIGHUP: listener changes need a restart; still listening on the old addresses');
    }, (error: unknown) => {
      printError(`SIGHUP: reload failed, keeping the old settings: ${describeError(error)}`);
    });
  };
  const usr1 = (): void => { void Promise.resolve(actions.status()).then((text) => process.stderr.write(text)); };
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
    // Keep SIGUSR1 and SIGHUP handled to the end: without a listener Node would open the inspector, and a
    // SIGHUP (logrotate's, during a long grace) would kill the process, cutting the relays with a clean end.
    // A reload then reopens the log file; there are no new connections for the rest.
    process.on('SIGUSR1', usr1);
    process.on('SIGHUP', hup);
    const graceMs = actions.graceMs();
    const open = server.connections === undefined ? 'open connections' : `${server.connections} open connection(s)`;
    if (!actions.quiet()) printStatus(`${signal}: no longer accepting; ${open} have ${graceMs} ms to finish`);
    // A second SIGINT/SIGTERM ends the grace now: the open connections are reset as at its end (a cut
    // transfer never looks complete) and their log lines written. One more exits at once.
    let hurried = false;
    const again = (next: NodeJS.Signals): void => {
      if (hurried) process.exit(0);
      hurried = true;
      printError(`second ${next}: resetting the open connections now`);
      void server.close(0);
    };
    process.on('SIGINT', again);
    process.on('SIGTERM', again);
    void server.close(graceMs).then(done);
  }
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', hup);
  process.on('SIGUSR1', usr1);
  return { stopped, dispose };
}
