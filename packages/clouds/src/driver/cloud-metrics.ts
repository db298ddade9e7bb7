/**
 * What a process's cloud calls look like from `/metrics`: every request by cloud, operation and
 * outcome (`ok` or the error's kind), how long each took, and how many wait in each cloud's
 * limiter — the first place to look when a cloud throttles Defib or Defib waits on a cloud.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CloudErrorKind } from './cloud-error.ts';
import type { CloudLimiters, LimiterSnapshot } from './cloud-limiter.ts';

/** Records the calls of one process. */
export interface CloudMetrics {
  /** One request to `cloud` (one attempt of a call) that ended `ok` or failed with an error of `kind`. */
  request(cloud: string, operation: string, outcome: 'ok' | CloudErrorKind, seconds: number): void;
}

/**
 * Registers the cloud metrics in `registry`: `defib_cloud_requests_total`,
 * `defib_cloud_request_duration_seconds`, and, from `limiters`, `defib_cloud_calls_waiting` and
 * `defib_cloud_calls_running`.
 */
export function createCloudMetrics(registry: Registry, limiters: CloudLimiters): CloudMetrics {
  const requests = new Counter({
    name: 'defib_cloud_requests_total',
    help: 'Requests to cloud APIs, by cloud, operation and outcome (ok, or the error kind: throttled, unavailable, …).',
    labelNames: ['cloud', 'operation', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'defib_cloud_request_duration_seconds',
    help: 'How long cloud API requests took, by cloud and operation.',
    labelNames: ['cloud', 'operation'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const limiterGauge = (name: string, help: string, read: (snapshot: LimiterSnapshot) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['cloud'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [cloud, limiter] of limiters.entries()) this.set({ cloud }, read(limiter.snapshot()));
      },
    });
  limiterGauge('defib_cloud_calls_waiting', "Cloud calls waiting in their cloud's limiter.", (snapshot) => snapshot.queued);
  limiterGauge('defib_cloud_calls_running', 'Cloud calls under way, by cloud.', (snapshot) => snapshot.running);
  return {
    request(cloud, operation, outcome, seconds) {
      requests.inc({ cloud, operation, outcome });
      duration.observe({ cloud, operation }, seconds);
    },
  };
}
