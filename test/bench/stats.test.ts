import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, percentile, percentiles, summarize } from '../../lib/bench/stats.ts';

test('percentiles are nearest-rank over the sorted samples', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
  assert.deepEqual(percentiles(hundred), { p50: 50, p90: 90, p99: 99, max: 100, count: 100 });
  const ten = [7, 1, 3, 9, 5, 2, 10, 4, 8, 6];
  assert.deepEqual(percentiles(ten), { p50: 5, p90: 9, p99: 10, max: 10, count: 10 });
  assert.deepEqual(percentiles([0.25]), { p50: 0.25, p90: 0.25, p99: 0.25, max: 0.25, count: 1 });
  // Numeric order, not string order (a plain Array#sort would put 10 before 9).
  assert.equal(percentile([1, 2, 9, 10, 100], 60), 9);
  assert.ok(Number.isNaN(percentiles([]).p50));
});

test('p99 of 1000 samples is the 990th smallest', () => {
  const samples = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000); // a permutation of 0..999
  const result = percentiles(samples);
  assert.equal(result.p99, 989);
  assert.equal(result.p50, 499);
  assert.equal(result.max, 999);
});

test('median and spread of repeated runs', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const summary = summarize([90, 110, 100]);
  assert.equal(summary.median, 100);
  assert.equal(summary.min, 90);
  assert.equal(summary.max, 110);
  assert.equal(summary.spread, 0.1);
});

