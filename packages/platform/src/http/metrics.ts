/**
 * HTTP metrics on the service's own prom-client registry (never the global one, so tests and
 * several apps in one process do not collide): request durations by method, route and status,
 * plus the default process metrics.
 */
import { collectDefaultMetrics, Histogram, type Registry } from 'prom-client';

export const REQUEST_DURATION_METRIC = 'http_request_duration_seconds';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface HttpMetrics {
  /** Records one finished request. `route` is the route pattern (`/v1/clouds/:name`), never the raw path. */
  observe(method: string, route: string, status: number, seconds: number): void;
}

export function createHttpMetrics(registry: Registry): HttpMetrics {
  // Registering twice on one registry throws; a second app on the same registry shares the metrics.
  const existing = registry.getSingleMetric(REQUEST_DURATION_METRIC);
  const histogram =
    existing instanceof Histogram
      ? (existing as Histogram<'method' | 'route' | 'status'>)
      : new Histogram({
          name: REQUEST_DURATION_METRIC,
          help: 'Duration of HTTP requests in seconds, by method, route pattern and status',
          labelNames: ['method', 'route', 'status'] as const,
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers: [registry],
        });
  if (registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) collectDefaultMetrics({ register: registry });
  return {
    observe(method, route, status, seconds) {
      histogram.observe({ method: KNOWN_METHODS.has(method) ? method : 'OTHER', route, status: String(status) }, seconds);
    },
  };
}
