// The worker's side of `serve --workers` (workers.ts is the primary's): settings and addresses come over the
// IPC channel, and so do reload, status and drain. The worker prints its own connection log lines to the
// stderr it shares with the primary: each line is one write, which the kernel does not interleave with
// another process's line (pipes up to PIPE_BUF, 4 KiB; files through the shared offset).
import { SocxError } from '../errors.ts';
import type { ListenAddress, ServerStatus } from './server.ts';
import { WORKER_ENV, type FromWorker, type ToWorker } from './workers.ts';

export interface WorkerStart<S> {
  readonly number: number;
  readonly settings: S;
  readonly listen: readonly ListenAddress[];
}

export interface WorkerHandlers<S> {
  /** Reads the settings again; resolves with the error text when they are bad (the old ones stay). */
  reload(): string | undefined;
  status(): ServerStatus;
  /** The metrics registry as JSON (with --metrics), for the primary's totals. */
  metrics(): Promise<unknown> | undefined;
  drain(graceMs: number): Promise<void>;
  /** The grace period when the primary is gone without saying. */
  graceMs(): number;
  /** The primary's settings for the next reload. */
  settings(settings: S): void;
  /** Another worker's failed login (its clientSource). */
  loginFailed(source: string): void;
}

/** This process's worker number when it was started by a `serve --workers` primary, else undefined. */
export function workerNumber(): number | undefined {
  const number = Number(process.env[WORKER_ENV]);
  return Number.isInteger(number) && number > 0 && process.send !== undefined ? number : undefined;
}

const send = (message: FromWorker): void => { if (process.connected) process.send!(message, () => {}); };

/** Waits for the primary's settings. */
export function receiveStart<S>(number: number): Promise<WorkerStart<S>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ToWorker<S>): void => {
      if (message.type !== 'start') return;
      process.off('disconnect', onGone);
      process.off('message', onMessage);
      resolve({ number, settings: message.settings, listen: message.listen });
    };
    const onGone = (): void => reject(new SocxError('aborted', 'the primary process is gone'));
    process.on('message', onMessage);
    process.once('disconnect', onGone);
  });
}

/** A failed login here, for the other workers' budgets. */
export function reportLoginFailure(source: string): void {
  send({ type: 'login-failed', source });
}

export function reportListening(bound: readonly ListenAddress[]): void {
  send({ type: 'listening', bound });
}

/** Start-up failed: the primary prints it once (not once per worker) and exits with its code. */
export function reportFailure(error: SocxError): void {
  send({ type: 'failed', code: error.code, message: error.message });
}

/**
 * Serves the primary's requests until a drain, then lets the channel go so that the process can exit.
 * - A terminal's Ctrl-C and systemd's stop signal the whole group: SIGINT/SIGTERM here drain as the
 *   primary's message does, and a second one ends the grace now.
 * - SIGHUP and SIGUSR1 are the primary's to handle (it asks the workers); here they do nothing — without a
 *   handler SIGHUP would kill the worker and SIGUSR1 open the inspector.
 * - The primary gone (killed) closes the channel: the worker drains and exits rather than serve on unmanaged.
 */
export function serveAsWorker<S>(handlers: WorkerHandlers<S>): Promise<void> {
  return new Promise((resolve) => {
    let draining = false;
    const drain = (graceMs: number): void => {
      if (draining) {
        // The primary's second drain (its second SIGINT/SIGTERM) asks for 0: the grace ends now.
        if (graceMs === 0) void handlers.drain(0);
        return;
      }
      draining = true;
      void handlers.drain(graceMs).then(() => {
        process.off('message', onMessage);
        process.off('disconnect', orphaned);
        if (process.connected) process.disconnect();
        resolve();
      });
    };
    // Signals sent to the group reach the primary too, whose drain messages come as well: only this
    // process's own count decides. The second ends the grace now (the open connections are reset as at its
    // end), the third exits at once.
    let signals = 0;
    const signalled = (): void => {
      signals += 1;
      if (signals > 2) process.exit(0);
      drain(signals === 1 ? handlers.graceMs() : 0);
    };
    const orphaned = (): void => drain(handlers.graceMs());
    const onMessage = (message: ToWorker<S>): void => {
      if (message.type === 'drain') drain(message.graceMs);
      else if (message.type === 'login-failed') handlers.loginFailed(message.source);
      else if (message.type === 'settings') handlers.settings(message.settings);
      else if (message.type === 'ask') {
        const answer = (value: unknown): void => send({ type: 'answer', id: message.id, value: value ?? null });
        if (message.what === 'metrics') void Promise.resolve(handlers.metrics()).then(answer, () => answer(null));
        else answer(message.what === 'reload' ? handlers.reload() : handlers.status());
      }
    };
    const ignore = (): void => {};
    process.on('message', onMessage);
    process.once('disconnect', orphaned);
    process.on('SIGINT', signalled);
    process.on('SIGTERM', signalled);
    process.on('SIGHUP', ignore);
    process.on('SIGUSR1', ignore);
  });
}
