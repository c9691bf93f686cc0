import { AggregatorRegistry, collectDefaultMetrics, Registry } from 'prom-client';

/** prom-client's process metrics whose names promtool's lint refuses: gauges ending in `_total` (the number of
 * handles, requests and resources, summed over their types). The per-type gauges stay. */
const LINT_FAILURES = ['active_handles_total', 'active_requests_total', 'active_resources_total'];

export const METRIC_PREFIX = 'socx_';

/**
 * The one place a registry is made: the process metrics (CPU, memory, fds, event-loop lag, GC, heap) under
 * socx_, less those that fail the lint. A supervisor of several processes can put prom-client's
 * AggregatorRegistry in front of the registries made here.
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  for (const name of LINT_FAILURES) registry.removeSingleMetric(`${METRIC_PREFIX}nodejs_${name}`);
  return registry;
}

/** A registry's metrics as JSON: what a worker of `serve --workers` sends its primary. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Several processes' metrics as one text: each metric's own aggregator (sum, unless it says otherwise). */
export function totalMetrics(processes: readonly MetricsJson[]): Promise<string> {
  return AggregatorRegistry.aggregate([...processes]).metrics();
}
