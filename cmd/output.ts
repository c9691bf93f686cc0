/** Status and errors go to stderr; stdout carries only data and results. */

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
