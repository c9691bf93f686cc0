import { describeError, exitCodeFor, SocxError } from '../lib/errors.ts';
import type { MetricsSource } from '../lib/observe/metrics-server.ts';
import { createRegistry, totalMetrics, type MetricsJson } from '../lib/observe/registry.ts';
import { defaultServerConfig, type ListenAddress, type ServerStatus } from '../lib/server/server.ts';
import { receiveStart, reportFailure, reportListening, reportLoginFailure, serveAsWorker } from '../lib/server/worker-child.ts';
import { assertNotShared, WorkerPool } from '../lib/server/workers.ts';
import { printError, withoutWarnings } from './output.ts';
import { announce, cannotListen, Instance, reloaded, startMetrics } from './serve-run.ts';
import type { ServeOptions } from './serve.ts';
import { watchServeSignals } from './serve-signals.ts';
import { formatWorkersStatus } from './serve-status.ts';
import { loadWithFiles, type SettingsFiles } from './settings-files.ts';

export type LoadedSettings = ReturnType<typeof loadWithFiles<ServeOptions>>;

/** What a worker needs to read the settings as the primary did: the command line's options, and the config
 * and users files as the primary last read them (a worker started later, or reloading, does not read them
 * from the disk, where they may have changed since, for better or worse). */
export interface WorkerSettings {
  readonly cliRaw: Readonly<Record<string, unknown>>;
  readonly argvRules: readonly string[];
  readonly files: SettingsFiles;
}

/** `--workers N`: the primary. It serves nothing; the workers listen, and it speaks for them. */
export async function serveWithWorkers(first: ServeOptions, reload: () => LoadedSettings, settings: WorkerSettings): Promise<number> {
  let options = first;
  const startedAt = Date.now();
  const pool = new WorkerPool({ count: options.workers, settings, listen: options.listen, log: printError });
  const signals = watchServeSignals({ connections: undefined, close: (graceMs) => pool.drain(graceMs) }, {
    reload: async () => {
      let next: ServeOptions;
      try {
        const loaded = reload();
        next = loaded.value;
        pool.update({ ...settings, files: loaded.files });
      } catch (error) {
        // The workers fail the same way (their answers are this same error), and reopen their log files.
        void pool.ask('reload');
        throw error;
      }
      const result = reloaded(options, next);
      const answers = await pool.ask<string | null>('reload');
      const refusals = answers.filter(({ value }) => value !== null);
      // Every worker refused the settings for one reason (a --log-file none of them can open): the reload
      // failed, and is said so once.
      const reason = refusals[0]?.value;
      if (typeof reason === 'string' && refusals.length === answers.length && refusals.every(({ value }) => value === reason)) throw new SocxError('usage', reason);
      for (const { worker, pid, value } of refusals) printError(`SIGHUP: worker ${worker} (pid ${pid}) ${value === undefined ? 'did not answer' : `kept its old settings: ${value}`}`);
      options = result.options;
      return result;
    },
    status: async () => formatWorkersStatus(await pool.ask<ServerStatus>('status'), startedAt, Date.now()),
    graceMs: () => options.graceMs,
    quiet: () => options.quiet,
  });
  let bound: ListenAddress[];
  let metrics: Awaited<ReturnType<typeof startMetrics>>;
  try {
    await assertNotShared(options.listen).catch((error: unknown) => { throw cannotListen(error, options.listen); });
    bound = await pool.start();
    metrics = await startMetrics(options, options.metrics && workersMetrics(pool), () => pool.draining, () => (pool.serving ? undefined : 'no worker is listening (they are being restarted)')).catch(async (error: unknown) => {
      await pool.drain(0);
      throw error;
    });
  } catch (error) {
    signals.dispose();
    throw error;
  }
  announce(options, { ...defaultServerConfig, ...options.config }, bound, metrics, [`workers: ${options.workers} processes (pid ${pool.pids.join(', ')}) on the same listeners (SO_REUSEPORT); the limits below are per worker`]);
  await signals.stopped;
  metrics?.close();
  return 0;
}

/** /metrics of the primary: its own process metrics and every worker's, added up (prom-client's aggregator:
 * counters and gauges summed, build and version info once). A replaced worker starts its counters from 0,
 * which Prometheus reads as a counter reset. */
function workersMetrics(pool: WorkerPool<WorkerSettings>): MetricsSource {
  const own = createRegistry();
  return {
    contentType: own.contentType,
    metrics: async () => {
      const answers = await pool.ask<MetricsJson>('metrics');
      return totalMetrics([await own.getMetricsAsJSON(), ...answers.flatMap((answer) => (answer.value ? [answer.value] : []))]);
    },
  };
}

/** A worker of `--workers`: the primary's settings, addresses (the ports it chose for port 0) and signals. */
export async function serveWorker(number: number, loader: (settings: Omit<WorkerSettings, 'files'>) => () => ServeOptions): Promise<number> {
  let instance: Instance | undefined;
  try {
    const start = await receiveStart<WorkerSettings>(number);
    const read = loader(start.settings);
    let { files } = start.settings;
    // The primary has printed the settings' warnings once already.
    const load = (): ServeOptions => withoutWarnings(() => loadWithFiles(read, files).value);
    let options = load();
    instance = new Instance(options);
    const running = instance;
    running.server.shareLoginFailures(reportLoginFailure);
    const bound = await running.server.listen(start.listen, { reusePort: true }).catch((error: unknown) => { throw cannotListen(error, start.listen); });
    reportListening(bound);
    await serveAsWorker<WorkerSettings>({
      reload: () => {
        try {
          const next = load();
          running.reconfigure(next);
          options = next;
          return undefined;
        } catch (error) {
          try {
            running.reopenLog(options);
          } catch {
            // The old file stays in use; the primary has said what is wrong with the settings.
          }
          return describeError(error);
        }
      },
      status: () => running.server.status(),
      metrics: () => running.metrics?.registry.getMetricsAsJSON(),
      drain: (graceMs) => running.close(graceMs),
      graceMs: () => options.graceMs,
      settings: (next) => { files = next.files; },
      loginFailed: (source) => running.server.loginFailedElsewhere(source),
    });
    return 0;
  } catch (error) {
    await instance?.close(0);
    const failure = error instanceof SocxError ? error : new SocxError('network', describeError(error));
    reportFailure(failure);
    return exitCodeFor(failure);
  }
}

