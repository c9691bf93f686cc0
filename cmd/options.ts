import { usageError } from '../lib/errors.ts';
import { parseDuration, parseSize, type DurationUnit, type Range } from '../lib/units.ts';
import { printWarning } from './output.ts';

/** cac (through mri) turns "0" into 0 and repeated flags into arrays; these coerce and check, so that every
 * option reaches lib/ with the type it is declared to have. */

export function stringOption(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw usageError(`--${name} may be given only once`);
  if (typeof value === 'boolean') throw usageError(`--${name} needs a value`);
  return String(value);
}

export function listOption(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [value];
  return values.map((item) => {
    if (typeof item === 'boolean') throw usageError(`--${name} needs a value`);
    return String(item);
  });
}

export function integerOption(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const text = stringOption(value, name);
  if (text === undefined) return undefined;
  const number = /^\d+$/.test(text) ? Number(text) : NaN;
  const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  if (!(number >= min && number <= max)) throw usageError(`--${name} must be a whole number ${range}, not "${text}"`);
  return number;
}

export function flagOption(value: unknown): boolean {
  return value === true;
}

/** A time option: `500ms`, `10s`, `2m`, `1h`, or a bare number in `bare` units (the option's unit from before
 * units existed). Milliseconds. `range` is in milliseconds; outside it is a usage error naming the bounds. */
/** `shortIsUsual`: a few milliseconds is a normal value for this option (a send interval), so a small bare
 * number gets no warning. */
export function durationOption(value: unknown, name: string, bare: DurationUnit, range?: Range, shortIsUsual = false): number | undefined {
  const text = stringOption(value, name);
  if (text === undefined) return undefined;
  const ms = parseDuration(text, name, bare, range);
  // The trap this syntax exists for: "--handshake-timeout 10" meaning ten milliseconds.
  if (!shortIsUsual && bare === 'ms' && /^\d+$/.test(text.trim()) && ms > 0 && ms < 100) printWarning(`--${name} ${text} is ${ms} ms; write ${text}s for seconds`);
  return ms;
}

/** A byte-count option: `65536`, `64k`, `1M`, `1G`. */
export function sizeOption(value: unknown, name: string, range?: Range): number | undefined {
  const text = stringOption(value, name);
  return text === undefined ? undefined : parseSize(text, name, range);
}

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
