/** Milliseconds with one decimal, from a monotonic clock. */
export type Clock = bigint;

export function startClock(): Clock {
  return process.hrtime.bigint();
}

export function elapsedMs(start: Clock): number {
  return Math.round(Number(process.hrtime.bigint() - start) / 100_000) / 10;
}
