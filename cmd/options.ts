import { usageError } from '../lib/errors.ts';

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
  if (!(number >= min && number <= max)) throw usageError(`--${name} must be a whole number from ${min} to ${max}, not "${text}"`);
  return number;
}

export function flagOption(value: unknown): boolean {
  return value === true;
}
