import { LogFile } from '../lib/observe/log-file.ts';
import { formatJsonRecord } from '../lib/observe/json-log.ts';
import type { ServerMetrics } from '../lib/observe/metrics.ts';
import { formatConnectionRecord } from '../lib/server/log-line.ts';
import type { ConnectionRecord } from '../lib/server/types.ts';
import type { ServeOptions } from './serve.ts';

/**
 * Where connection records go: stderr, or with --log-file that file only (as nginx's access_log and Dante's
 * logoutput do; status lines, warnings and errors stay on stderr). SIGHUP reopens the file, for logrotate.
 */
export class ConnectionLog {
  #file: LogFile | undefined;
  readonly #onError: (message: string) => void;

  /** Throws a usage error when the file cannot be opened. */
  constructor(path: string | undefined, onError: (message: string) => void) {
    this.#onError = onError;
    this.#file = path === undefined ? undefined : new LogFile(path, onError);
  }

  /** The end-of-connection hook for these settings: metrics first, then the line. */
  writer(options: Pick<ServeOptions, 'logFormat' | 'quiet'>, metrics: ServerMetrics | undefined): (record: ConnectionRecord) => void {
    const format = options.logFormat === 'json' ? formatJsonRecord : formatConnectionRecord;
    const toStderr = !options.quiet;
    const write = (record: ConnectionRecord): void => {
      const file = this.#file;
      if (file) file.write(format(record));
      else if (toStderr) process.stderr.write(`${format(record)}\n`);
    };
    return metrics ? (record) => { metrics.connectionEnded(record); write(record); } : write;
  }

  /** SIGHUP: the same path opened again (after a rename), or the new one the settings name. */
  reopen(path: string | undefined): void {
    const current = this.#file;
    if (current && current.path === path) return current.reopen();
    this.#file = path === undefined ? undefined : new LogFile(path, this.#onError);
    void current?.close();
  }

  close(): Promise<void> {
    return this.#file?.close() ?? Promise.resolve();
  }
}
