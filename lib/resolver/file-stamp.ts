import { statSync } from 'node:fs';

/** Tells, cheaply, whether a file changed: at most one stat(2) per `checkIntervalMs`, and a change is a
 * different mtime, size or inode (an editor's rename makes a new inode with maybe the same mtime). Synchronous
 * on purpose: a stat is microseconds, and an asynchronous one would queue behind whatever holds libuv's pool,
 * the very thing the resolver must not wait on. A missing file is a state like any other. */
export class FileStamp {
  readonly path: string;
  readonly #checkIntervalMs: number;
  #stamp = '';
  #checkedAt = -Infinity;

  constructor(path: string, checkIntervalMs: number) {
    this.path = path;
    this.#checkIntervalMs = checkIntervalMs;
  }

  /** True the first time and whenever the file changed since the last true. */
  changed(now = performance.now()): boolean {
    if (now - this.#checkedAt < this.#checkIntervalMs) return false;
    this.#checkedAt = now;
    const stat = statSync(this.path, { throwIfNoEntry: false });
    const stamp = stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs}` : 'missing';
    if (stamp === this.#stamp) return false;
    this.#stamp = stamp;
    return true;
  }
}
