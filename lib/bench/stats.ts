/** Summaries of measured samples. Percentiles are exact (sorted samples, nearest-rank), not estimated: a
 * bench run holds at most a few hundred thousand latencies, which sort in milliseconds. */

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly count: number;
}

/** Nearest-rank percentile (the smallest sample with at least p% of samples at or below it) of samples
 * sorted ascending. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? NaN;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const list = Array.from(sorted);
  return {
    p50: percentile(list, 50),
    p90: percentile(list, 90),
    p99: percentile(list, 99),
    max: list.length === 0 ? NaN : (list[list.length - 1] ?? NaN),
    count: list.length,
  };
}

/** The median of repeated measurements and how far they spread. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Half the range, relative to the median: 0.03 means the runs were within ±3 %. */
  readonly spread: number;
  readonly samples: readonly number[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  if (sorted.length === 0) return NaN;
  if (sorted.length % 2 === 1) return sorted[middle] ?? NaN;
  return ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter(Number.isFinite);
  const mid = median(finite);
  const min = finite.length === 0 ? NaN : Math.min(...finite);
  const max = finite.length === 0 ? NaN : Math.max(...finite);
  return { median: mid, min, max, spread: mid > 0 ? (max - min) / 2 / mid : 0, samples: values };
}
