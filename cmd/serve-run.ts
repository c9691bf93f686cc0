import { formatAddress } from '../lib/codec/address.ts';
import { SocxError } from '../lib/errors.ts';
import { ServerMetrics } from '../lib/observe/metrics.ts';
import { serveMetrics, type MetricsServer, type MetricsSource } from '../lib/observe/metrics-server.ts';
import { createRegistry } from '../lib/observe/registry.ts';
import { isExposed, isLoopback, listenErrorText } from '../lib/server/listen-address.ts';
import { SocksServer, type ListenAddress } from '../lib/server/server.ts';
import type { ServerConfig } from '../lib/server/types.ts';
import { printError, printStatus, printWarning } from './output.ts';
import type { ServeOptions } from './serve.ts';
import { ConnectionLog } from './serve-log.ts';
import { watchServeSignals } from './serve-signals.ts';
import { startLines } from './serve-start-lines.ts';
import { formatStatus } from './serve-status.ts';

/**
 * One SocksServer with its connection log and (with --metrics) its metrics: the whole server without
 * --workers, and each worker's with it.
 */
export class Instance {
  readonly server: SocksServer;
  readonly logs: ConnectionLog;
  readonly metrics: ServerMetrics | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: ServeOptions) {
    this.logs = new ConnectionLog(options.logFile, (line) => printError(line));
    this.metrics = options.metrics ? new ServerMetrics(createRegistry()) : undefined;
    this.server = new SocksServer(this.#serverConfig(options));
    this.metrics?.watch(this.server);
  }

  /** How the connection records, debug and warnings of these settings are written. */
  #serverConfig(options: ServeOptions): Partial<ServerConfig> {
    const log = (line: string): void => { process.stderr.write(`${line}\n`); };
    const metrics = this.metrics;
    return {
      ...options.config,
      // The metrics' record and resolver hooks; none at all without --metrics.
      onConnectionStart: metrics ? () => metrics.connectionStarted() : undefined,
      onLookup: metrics ? (source, error, ms) => metrics.lookup(source, error, ms) : undefined,
      onConnection: this.logs.writer(options, metrics),
      onDebug: options.verbose ? log : undefined,
      onWarning: (line) => printStatus(line),
    };
  }

  /** SIGHUP's new settings, for new connections. The log file first: a path that cannot be opened fails the
   * reload, and the old settings stay. */
  reconfigure(next: ServeOptions): void {
    this.logs.reopen(next.logFile);
    this.server.reconfigure(this.#serverConfig(next));
  }

  /** SIGHUP when the settings do not load: logrotate's SIGHUP must still move the log to the new file. */
  reopenLog(current: ServeOptions): void {
    this.logs.reopen(current.logFile);
  }

  /** A second call ends the grace now (SocksServer.close) and resolves with the first. */
  close(graceMs: number): Promise<void> {
    const closed = this.server.close(graceMs);
    this.#closed ??= closed.then(() => this.logs.close());
    return this.#closed;
  }
}

export const cannotListen = (error: unknown, addresses: readonly ListenAddress[], what = ''): SocxError =>
  error instanceof SocxError ? error : new SocxError('network', `cannot listen on ${addresses.map(formatAddress).join(', ')}${what}: ${listenErrorText(error, addresses)}`);

/** Reload for the signals: a changed listener or metrics address needs a restart. `options` are the new
 * settings with the addresses still in use, so that the next reload is compared with what runs. */
export function reloaded(previous: ServeOptions, next: ServeOptions): { users: number; restart: boolean; options: ServeOptions } {
  const where = (options: ServeOptions): string => formatAddresses([...options.listen, ...(options.metrics ? [options.metrics] : [])]);
  return { users: next.users.size, restart: where(next) !== where(previous), options: { ...next, listen: previous.listen, metrics: previous.metrics } };
}

/** /metrics, /healthz and /readyz (not ready once the drain has begun, or for `unready`'s reason); none
 * without --metrics. */
export async function startMetrics(options: ServeOptions, source: MetricsSource | undefined, draining: () => boolean, unready: () => string | undefined = () => undefined): Promise<MetricsServer | undefined> {
  const at = options.metrics;
  if (!at || !source) return undefined;
  return serveMetrics(source, { unready: () => (draining() ? 'draining' : unready()) }, at.host, at.port).catch((error: unknown) => { throw cannotListen(error, [at], ' for --metrics'); });
}

/** --check-config: builds what serve builds before it listens (the server and its connection log, the
 * --log-file opened for appending as serve opens it: created when missing, never truncated), then drops it.
 * A failure is serve's own, with its exit code; nothing listens. */
export async function checkServe(options: ServeOptions): Promise<void> {
  await new Instance(options).close(0);
}

/** One process serving on its own (`--workers 1`, the default). */
export async function serve(first: ServeOptions, reload: () => ServeOptions): Promise<number> {
  let options = first;
  const instance = new Instance(options);
  const { server } = instance;
  // Handlers go in before the ready line: a supervisor may signal as soon as it sees it (and SIGHUP's default
  // is to exit, SIGUSR1's to open the inspector).
  const signals = watchServeSignals(server, {
    reload: () => {
      let next: ServeOptions;
      try {
        next = reload();
      } catch (error) {
        instance.reopenLog(options);
        throw error;
      }
      const result = reloaded(options, next);
      instance.reconfigure(next);
      options = result.options;
      return result;
    },
    status: () => formatStatus(server.status(), Date.now()),
    graceMs: () => options.graceMs,
    quiet: () => options.quiet,
  });
  let bound: ListenAddress[];
  let metrics: MetricsServer | undefined;
  try {
    bound = await server.listen(options.listen).catch((error: unknown) => { throw cannotListen(error, options.listen); });
    metrics = await startMetrics(options, instance.metrics?.registry, () => server.closing);
  } catch (error) {
    await instance.close(0);
    signals.dispose();
    throw error;
  }
  announce(options, server.config, bound, metrics);
  await signals.stopped;
  metrics?.close();
  await instance.logs.close();
  return 0;
}

/** The ready lines (one per listener, the real port), where the metrics are, the open-proxy warning, then
 * the start lines. */
export function announce(options: ServeOptions, config: ServerConfig, bound: readonly ListenAddress[], metrics: MetricsServer | undefined, extra: readonly string[] = []): void {
  for (const address of bound) printStatus(`listening on ${formatAddress(address)}`);
  if (metrics) {
    const at = formatAddress(metrics.address);
    printStatus(`metrics on http://${at}/metrics (and /healthz, /readyz)`);
    if (!isLoopback(metrics.address.host)) printWarning(`metrics on ${at} are reachable from other hosts, without a login: they show traffic volumes and rule names (firewall the port, or use a loopback address)`);
  }
  if (options.openProxy) printWarning(`open proxy: anyone who can reach ${bound.filter((a) => isExposed(a) && (options.users.size === 0 || a.noAuth === true)).map(formatAddress).join(', ')} may use it (--allow-open-proxy)`);
  if (!options.quiet) for (const line of [...extra, ...startLines(options, config, bound)]) printStatus(line);
}

const formatAddresses = (addresses: readonly ListenAddress[]): string => addresses.map((address) => `${formatAddress(address)}${address.noAuth ? ' (no login)' : ''}${address.proxyProtocol ? ' (PROXY protocol)' : ''}`).join(' ');
