import { describeError, exitCodeFor, SocxError } from '../lib/errors.ts';
import { defaultServerConfig, SocksServer, type ListenAddress, type ServerStatus } from '../lib/server/server.ts';
import { receiveStart, reportFailure, reportListening, serveAsWorker } from '../lib/server/worker-child.ts';
import { assertNotShared, WorkerPool } from '../lib/server/workers.ts';
import { printError, withoutWarnings } from './output.ts';
import { announce, cannotListen, reloaded, serverConfig } from './serve-run.ts';
import type { ServeOptions } from './serve.ts';
import { watchServeSignals } from './serve-signals.ts';
import { formatWorkersStatus } from './serve-status.ts';

/** What a worker needs to read the settings as the primary did: the command line's options (the config file
 * is read again by each worker, and on SIGHUP). */
export interface WorkerSettings {
  readonly cliRaw: Readonly<Record<string, unknown>>;
  readonly argvRules: readonly string[];
}

/** `--workers N`: the primary. It serves nothing; the workers listen, and it speaks for them. */
export async function serveWithWorkers(first: ServeOptions, reload: () => ServeOptions, settings: WorkerSettings): Promise<number> {
  let options = first;
  const startedAt = Date.now();
  const pool = new WorkerPool({ count: options.workers, settings, listen: options.listen, log: printError });
  const signals = watchServeSignals({ connections: undefined, close: (graceMs) => pool.drain(graceMs) }, {
    reload: async () => {
      const next = reload();
      const result = reloaded(options, next);
      options = next;
      for (const { worker, pid, value } of await pool.ask<string | null>('reload')) {
        if (value !== null) printError(`SIGHUP: worker ${worker} (pid ${pid}) ${value === undefined ? 'did not answer' : `kept its old settings: ${value}`}`);
      }
      return result;
    },
    status: async () => formatWorkersStatus(await pool.ask<ServerStatus>('status'), startedAt, Date.now()),
    graceMs: () => options.graceMs,
    quiet: () => options.quiet,
  });
  let bound: ListenAddress[];
  try {
    await assertNotShared(options.listen).catch((error: unknown) => { throw cannotListen(error, options.listen); });
    bound = await pool.start();
  } catch (error) {
    signals.dispose();
    throw error;
  }
  announce(options, { ...defaultServerConfig, ...options.config }, bound, [`workers: ${options.workers} processes (pid ${pool.pids.join(', ')}) on the same listeners (SO_REUSEPORT); the limits below are per worker`]);
  await signals.stopped;
  return 0;
}

/** A worker of `--workers`: the primary's settings, addresses (the ports it chose for port 0) and signals. */
export async function serveWorker(number: number, loader: (settings: WorkerSettings) => () => ServeOptions): Promise<number> {
  let server: SocksServer | undefined;
  try {
    const start = await receiveStart<WorkerSettings>(number);
    const read = loader(start.settings);
    // The primary has printed the settings' warnings once already.
    const load = (): ServeOptions => withoutWarnings(read);
    let options = load();
    server = new SocksServer(serverConfig(options));
    const bound = await server.listen(start.listen, { reusePort: true }).catch((error: unknown) => { throw cannotListen(error, start.listen); });
    reportListening(bound);
    const running = server;
    await serveAsWorker({
      reload: () => {
        try {
          options = load();
          running.reconfigure(serverConfig(options));
          return undefined;
        } catch (error) {
          return describeError(error);
        }
      },
      status: () => running.status(),
      drain: (graceMs) => running.close(graceMs),
      graceMs: () => options.graceMs,
    });
    return 0;
  } catch (error) {
    await server?.close(0);
    const failure = error instanceof SocxError ? error : new SocxError('network', describeError(error));
    reportFailure(failure);
    return exitCodeFor(failure);
  }
}

