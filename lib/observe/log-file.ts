import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { fileErrorText, usageError } from '../errors.ts';

/** What a stalled disk may hold back before lines are dropped rather than grow the heap. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** Lines are written in batches, as nginx's `access_log … buffer= flush=` does: a write (a trip through
 * libuv's thread pool) per line costs more CPU than the line itself. */
const BATCH_BYTES = 64 * 1024;
const BATCH_MS = 100;

/**
 * The connection log's file, appended to through a write stream, so that the event loop never waits on the
 * disk. `reopen()` opens the path again: after logrotate has renamed the file, SIGHUP makes the next lines go
 * to a new one.
 */
export class LogFile {
  readonly path: string;
  readonly #onError: (message: string) => void;
  #stream: WriteStream;
  #batch: string[] = [];
  #batchBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Lines are being dropped: the disk does not keep up. */
  #dropping = false;

  /** Throws a usage error (one line, exit 2) when the file cannot be opened for appending. */
  constructor(path: string, onError: (message: string) => void) {
    this.path = path;
    this.#onError = onError;
    this.#stream = this.#open();
  }

  #open(): WriteStream {
    const { path } = this;
    let fd: number;
    try {
      fd = openSync(path, 'a', 0o640);
    } catch (error) {
      throw usageError(`--log-file: cannot open ${path}: ${fileErrorText(error)}`);
    }
    const stream = createWriteStream(path, { fd, flags: 'a' });
    // A write error (disk full, say) must not take the server down: it is said once, and that file's later
    // lines are lost; a SIGHUP opens the path again.
    stream.once('error', (error) => this.#onError(`--log-file ${path}: ${fileErrorText(error)}; connection lines are lost until the next SIGHUP`));
    stream.on('error', () => {});
    return stream;
  }

  write(line: string): void {
    if (this.#stream.writableLength + this.#batchBytes > MAX_PENDING_BYTES) {
      if (!this.#dropping) this.#onError(`--log-file ${this.path}: the disk is not keeping up (${MAX_PENDING_BYTES / 2 ** 20} MiB queued); dropping connection lines`);
      this.#dropping = true;
      return;
    }
    this.#dropping = false;
    this.#batch.push(line);
    this.#batchBytes += line.length + 1;
    if (this.#batchBytes >= BATCH_BYTES) this.#flush();
    // Unref'd: close() flushes what is left.
    else this.#timer ??= setTimeout(() => this.#flush(), BATCH_MS).unref();
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    this.#stream.write(`${this.#batch.join('\n')}\n`);
    this.#batch = [];
    this.#batchBytes = 0;
  }

  /** Opens the path again; the old file gets the lines written so far. Throws (a usage error) when the path
   * cannot be opened, and the old file stays in use. */
  reopen(): void {
    const next = this.#open();
    this.#flush();
    const old = this.#stream;
    this.#stream = next;
    old.end();
  }

  close(): Promise<void> {
    this.#flush();
    return new Promise((resolve) => this.#stream.end(resolve));
  }
}
