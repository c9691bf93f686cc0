import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { fileErrorText, usageError } from '../errors.ts';

/** What a stalled disk may hold back before lines are dropped (and counted) rather than grow the heap. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

/**
 * The connection log's file, appended to through a write stream (the event loop never waits on the disk:
 * writes queue, and under load Node joins them into one writev). `reopen()` opens the path again — after
 * logrotate has renamed it, SIGHUP makes the next lines go to a new file.
 */
export class LogFile {
  readonly path: string;
  readonly #onError: (message: string) => void;
  #stream: WriteStream;
  /** Lines dropped because the disk did not keep up. */
  dropped = 0;

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
    if (this.#stream.writableLength > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    this.#stream.write(`${line}\n`);
  }

  /** Opens the path again; the old stream finishes its queued lines first. Throws (a usage error) when the
   * path cannot be opened, and the old file stays in use. */
  reopen(): void {
    const next = this.#open();
    const old = this.#stream;
    this.#stream = next;
    old.end();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#stream.end(resolve));
  }
}
