import { stderrIsInteractive } from './output.ts';

export interface Spinner {
  update(text: string): void;
  stop(): void;
}

/** ora on stderr when it is a terminal (and NO_COLOR is unset); loaded only then, since loading it costs
 * ~25 ms. A terminal that reports no width (a bare pty) gets none: ora would clear lines without end. ora
 * swallows Ctrl-C unless discardStdin is off. */
export async function startSpinner(text: string): Promise<Spinner> {
  if (!stderrIsInteractive() || !process.stderr.columns) return { update: () => {}, stop: () => {} };
  const { default: ora } = await import('ora');
  const spinner = ora({ stream: process.stderr, discardStdin: false, text }).start();
  return { update: (next) => { spinner.text = next; }, stop: () => { if (spinner.isSpinning) spinner.stop(); } };
}
