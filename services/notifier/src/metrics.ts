/** The notifier's Prometheus metrics, on the service's own registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FailureReason } from './tables.ts';

export interface NotifierMetrics {
  /** An event was consumed; `matched` when at least one subscription wanted it. */
  eventConsumed(matched: boolean): void;
  attempt(channel: string, success: boolean, seconds: number): void;
  /** A delivery ended: delivered (with how long after its oldest event), or failed. */
  delivered(channel: string, mode: string, latencySeconds: number): void;
  deadLetter(channel: string, reason: FailureReason): void;
}

export function createNotifierMetrics(registry: Registry, oldestPendingSeconds: () => Promise<number>): NotifierMetrics {
  const events = new Counter({ name: 'defib_notifier_events_total', help: 'Events consumed, by whether any subscription matched.', labelNames: ['matched'] as const, registers: [registry] });
  const deliveries = new Counter({ name: 'defib_notifier_deliveries_total', help: 'Deliveries that ended, by channel and outcome (delivered or failed).', labelNames: ['channel', 'outcome'] as const, registers: [registry] });
  const attempts = new Counter({ name: 'defib_notifier_attempts_total', help: 'Delivery attempts, by channel and outcome (success or failure).', labelNames: ['channel', 'outcome'] as const, registers: [registry] });
  const attemptDuration = new Histogram({
    name: 'defib_notifier_attempt_duration_seconds',
    help: 'Duration of one delivery attempt (webhook request or SMTP send).',
    labelNames: ['channel'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'defib_notifier_delivery_latency_seconds',
    help: 'From when the (oldest) event happened to its successful delivery, by channel and mode (single or group).',
    labelNames: ['channel', 'mode'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600],
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: 'defib_notifier_dead_letters_total',
    help: 'Deliveries given up, by channel and reason (exhausted, permanent, gone, disabled).',
    labelNames: ['channel', 'reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'defib_notifier_oldest_pending_seconds',
    help: 'Age of the oldest delivery still pending for an enabled subscription (0 when none).',
    registers: [registry],
    async collect() {
      this.set(await oldestPendingSeconds().catch(() => -1));
    },
  });
  return {
    eventConsumed: (matched) => events.inc({ matched: matched ? 'yes' : 'no' }),
    attempt(channel, success, seconds) {
      attempts.inc({ channel, outcome: success ? 'success' : 'failure' });
      attemptDuration.observe({ channel }, seconds);
    },
    delivered(channel, mode, latencySeconds) {
      deliveries.inc({ channel, outcome: 'delivered' });
      latency.observe({ channel, mode }, Math.max(0, latencySeconds));
    },
    deadLetter(channel, reason) {
      deliveries.inc({ channel, outcome: 'failed' });
      deadLetters.inc({ channel, reason });
    },
  };
}
