import { usageError } from './errors.ts';

/** One syntax for every time and size option of every command, on the command line and in the config file. */

export type DurationUnit = 'ms' | 's';

const durationUnits: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const unitWords: Readonly<Record<DurationUnit, string>> = { ms: 'milliseconds', s: 'seconds' };

/** setTimeout's limit: a longer delay fires at once (Node warns and uses 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Range { readonly min: number; readonly max: number }

/** `500ms`, `10s`, `2m`, `1h`, `1.5s`; a bare number is in `bare` units (the unit the option had before
 * durations had units, so old command lines keep their meaning). Milliseconds, rounded. */
export function parseDuration(text: string, name: string, bare: DurationUnit, range: Range = { min: 0, max: MAX_TIMER_MS }): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/i.exec(text.trim());
  const unit = match?.[2]?.toLowerCase() ?? bare;
  const ms = match ? Math.round(Number(match[1]) * (durationUnits[unit] ?? NaN)) : NaN;
  if (Number.isNaN(ms)) throw usageError(`--${name} must be a duration such as 500ms, 10s, 2m or 1h (a bare number is ${unitWords[bare]}), not "${text}"`);
  if (ms < range.min || ms > range.max) throw usageError(`--${name} must be from ${formatDuration(range.min)} to ${formatDuration(range.max)}, not "${text}"`);
  return ms;
}

/** The shortest exact form: 1h, 2m, 10s, 500ms. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const sizeUnits: Readonly<Record<string, number>> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** A byte count: `65536`, `64k`, `256M`, `1G` (binary multiples; `KiB`, `MB` and `B` suffixes read the same). */
export function parseSize(text: string, name: string, range: Range = { min: 1, max: Number.MAX_SAFE_INTEGER }): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = match ? Math.round(Number(match[1]) * (sizeUnits[(match[2] ?? '').toLowerCase()] ?? NaN)) : NaN;
  if (Number.isNaN(bytes)) throw usageError(`--${name} must be a size such as 65536, 64k, 256M or 1G, not "${text}"`);
  if (bytes < range.min || bytes > range.max) throw usageError(`--${name} must be from ${formatSize(range.min)} to ${formatSize(range.max)}, not "${text}"`);
  return bytes;
}

export function formatSize(bytes: number): string {
  for (const [unit, size] of [['G', 2 ** 30], ['M', 2 ** 20], ['k', 2 ** 10]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
