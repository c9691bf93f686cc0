import { formatAddress } from '../lib/codec/address.ts';
import { SocxError } from '../lib/errors.ts';
import { isLoopback, listenErrorText } from '../lib/server/listen-address.ts';
import { formatConnectionRecord } from '../lib/server/log-line.ts';
import { SocksServer, type ListenAddress } from '../lib/server/server.ts';
import type { ServerConfig } from '../lib/server/types.ts';
import { printStatus, printWarning } from './output.ts';
import type { ServeOptions } from './serve.ts';
import { watchServeSignals } from './serve-signals.ts';
import { startLines } from './serve-start-lines.ts';
import { formatStatus } from './serve-status.ts';

/** How the connection records, debug and warnings of these settings reach stderr. */
export function serverConfig(options: ServeOptions): Partial<ServerConfig> {
  const log = (line: string): void => { process.stderr.write(`${line}\n`); };
  return {
    ...options.config,
    onConnection: options.quiet ? () => {} : (record) => log(formatConnectionRecord(record)),
    onDebug: options.verbose ? log : undefined,
    onWarning: (line) => printStatus(line),
  };
}

export const cannotListen = (error: unknown, addresses: readonly ListenAddress[]): SocxError =>
  error instanceof SocxError ? error : new SocxError('network', `cannot listen on ${addresses.map(formatAddress).join(', ')}: ${listenErrorText(error, addresses)}`);

/** Reload for the signals: new settings for new connections; a changed listener needs a restart. */
export function reloaded(previous: ServeOptions, next: ServeOptions): { users: number; restart: boolean } {
  return { users: next.users.size, restart: formatAddresses(next.listen) !== formatAddresses(previous.listen) };
}

/** One process serving on its own (`--workers 1`, the default). */
export async function serve(first: ServeOptions, reload: () => ServeOptions): Promise<number> {
  let options = first;
  const server = new SocksServer(serverConfig(options));
  // Handlers go in before the ready line: a supervisor may signal as soon as it sees it (and SIGHUP's default
  // is to exit, SIGUSR1's to open the inspector).
  const signals = watchServeSignals(server, {
    reload: () => {
      const next = reload();
      const result = reloaded(options, next);
      options = next;
      server.reconfigure(serverConfig(next));
      return result;
    },
    status: () => formatStatus(server.status(), Date.now()),
    graceMs: () => options.graceMs,
    quiet: () => options.quiet,
  });
  let bound: ListenAddress[];
  try {
    bound = await server.listen(options.listen);
  } catch (error) {
    await server.close(0);
    signals.dispose();
    throw cannotListen(error, options.listen);
  }
  announce(options, server.config, bound);
  await signals.stopped;
  return 0;
}

/** The ready lines (one per listener, the real port), the open-proxy warning, then the start lines. */
export function announce(options: ServeOptions, config: ServerConfig, bound: readonly ListenAddress[], extra: readonly string[] = []): void {
  for (const address of bound) printStatus(`listening on ${formatAddress(address)}`);
  if (options.openProxy) printWarning(`open proxy: anyone who can reach ${bound.filter((a) => !isLoopback(a.host) && (options.users.size === 0 || a.noAuth === true)).map(formatAddress).join(', ')} may use it (--allow-open-proxy)`);
  if (!options.quiet) for (const line of [...extra, ...startLines(options, config, bound)]) printStatus(line);
}

const formatAddresses = (addresses: readonly ListenAddress[]): string => addresses.map((address) => `${formatAddress(address)}${address.noAuth ? ' (no login)' : ''}`).join(' ');
