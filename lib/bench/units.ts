import { usageError } from '../errors.ts';

const sizeUnits: Readonly<Record<string, number>> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** A byte count: "65536", "64k", "256M", "1G" (binary multiples; "KiB", "MB" and the like read the same). */
export function parseSize(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = match ? Math.round(Number(match[1]) * (sizeUnits[(match[2] ?? '').toLowerCase()] ?? NaN)) : NaN;
  if (!(bytes >= 1 && bytes <= Number.MAX_SAFE_INTEGER)) throw usageError(`--${name} must be a size such as 65536, 64k, 256M or 1G, not "${text}"`);
  return bytes;
}

/** A duration in milliseconds: "3" and "3s" are seconds, "500ms" milliseconds, "1.5s" too. */
export function parseDuration(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/i.exec(text.trim());
  const ms = match ? Number(match[1]) * (match[2]?.toLowerCase() === 'ms' ? 1 : 1000) : NaN;
  if (!(ms >= 1 && ms <= 3_600_000)) throw usageError(`--${name} must be a time such as 3, 3s or 500ms (1 ms to 1 hour), not "${text}"`);
  return ms;
}
