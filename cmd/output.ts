import { errnoCode, socketErrorText, SocxError } from '../lib/errors.ts';

/** Status and errors go to stderr; stdout carries only data and results. */

let watchingStdout = false;
let stdoutError: Error | undefined;

/** With a listener, a failed write to stdout (a full disk, a reader that has gone) no longer reaches Node as
 * an unhandled 'error' event, which it prints as a stack trace. The listener keeps the first error (Node
 * resets stdout's own `errored` afterwards, so that stdout stays writable); main.ts makes it the command's
 * one line and exit 1. */
export function watchStdout(): void {
  if (watchingStdout) return;
  watchingStdout = true;
  process.stdout.on('error', (error) => { stdoutError ??= error; });
}

/** The error for stdout's first failed write, or undefined while every write has gone through. */
export function stdoutFailure(): SocxError | undefined {
  return stdoutError ? new SocxError('output', `cannot write to stdout: ${socketErrorText(errnoCode(stdoutError))}`, { cause: stdoutError }) : undefined;
}

/** Waits until what was written to stdout has been handed to the system; throws stdoutFailure()'s error when
 * a write failed. */
export async function flushStdout(): Promise<void> {
  const stdout = process.stdout;
  // An empty write completes after the writes queued before it. Only when some are queued: on /dev/full even
  // an empty write fails.
  if (stdout.writableLength > 0) await new Promise((resolve) => stdout.write('', resolve));
  // The 'error' event of a write that failed at once (a file, /dev/full) comes on the next tick.
  await new Promise(setImmediate);
  const failure = stdoutFailure();
  if (failure) throw failure;
}

export function printError(message: string): void {
  process.stderr.write(`socx: ${message}\n`);
}

export function printStatus(message: string): void {
  process.stderr.write(`socx: ${message}\n`);
}

/** No colour or spinner unless stderr is a terminal and NO_COLOR is unset (https://no-color.org). */
export function stderrIsInteractive(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
}

/** A status line for scripts (`--json`): one JSON object a line on stderr, no prefix. */
export function printStatusJson(value: Readonly<Record<string, unknown>>): void {
  process.stderr.write(`${JSON.stringify(value)}\n`);
}

let warningsMuted = 0;

export function printWarning(message: string): void {
  if (warningsMuted === 0) process.stderr.write(`socx: warning: ${message}\n`);
}

/** Runs `action` without printing warnings: for settings parsed again only to locate an error. */
export function withoutWarnings<T>(action: () => T): T {
  warningsMuted++;
  try {
    return action();
  } finally {
    warningsMuted--;
  }
}
