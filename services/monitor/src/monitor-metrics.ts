/** The monitor's Prometheus metrics, on the service's own registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { HeartbeatOutcome } from './liveness-detector.ts';
import type { LivenessState } from './watch.ts';

export interface MonitorMetrics {
  /** What became of a heartbeat the agent channel let through (its own rejections are `defib_agent_messages_rejected_total`). */
  heartbeat(outcome: HeartbeatOutcome): void;
  staleHeartbeat(): void;
  /** A silence verdict was given `lateMs` after its timeout (`missed × interval`) ran out. */
  detected(lateMs: number): void;
  emitted(type: string): void;
  /** A silent assembly was pinged: it answered (alive after all), answered from another VM or boot, or stayed silent. */
  probe(outcome: 'answered' | 'not-current' | 'silent'): void;
}

export interface MonitorGauges {
  /** Assemblies watched, by liveness state. */
  counts(): Record<LivenessState, number>;
  /** The replica's lag estimate. */
  lagMs(): number;
  degraded(): boolean;
  heldShards(): number;
  backlog(): { queued: number; pending: number };
}

export function createMonitorMetrics(registry: Registry, gauges: MonitorGauges): MonitorMetrics {
  const heartbeats = new Counter({
    name: 'defib_monitor_heartbeats_total',
    help: 'Heartbeats past the agent channel’s checks, by outcome: accepted, stale-instance (an old VM of the assembly), unknown-assembly, out-of-order.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const stale = new Counter({ name: 'defib_monitor_stale_instance_reports_total', help: 'Times an old or foreign VM was found beating for an assembly (once per VM and boot).', registers: [registry] });
  const detection = new Histogram({
    name: 'defib_monitor_detection_delay_seconds',
    help: 'How long after its timeout (missed × interval of silence) a silence verdict was given.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const events = new Counter({ name: 'defib_monitor_events_total', help: 'Events the monitor emitted, by type.', labelNames: ['type'] as const, registers: [registry] });
  new Gauge({
    name: 'defib_monitor_watched_assemblies',
    help: 'Assemblies watched by this replica, by liveness state.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      for (const [state, count] of Object.entries(gauges.counts())) this.set({ state }, count);
    },
  });
  new Gauge({
    name: 'defib_monitor_lag_seconds',
    help: 'How far behind the heartbeats this replica is (receive time − sent time, less each VM’s clock offset).',
    registers: [registry],
    collect() {
      this.set(gauges.lagMs() / 1000);
    },
  });
  new Gauge({
    name: 'defib_monitor_degraded',
    help: '1 while this replica lags and holds its verdicts.',
    registers: [registry],
    collect() {
      this.set(gauges.degraded() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'defib_monitor_shards_held',
    help: 'Shards of the deployables this replica speaks for.',
    registers: [registry],
    collect() {
      this.set(gauges.heldShards());
    },
  });
  new Gauge({
    name: 'defib_monitor_verdicts_waiting',
    help: 'Verdicts concluded but not written: queued by the holder, or kept by a standby for a takeover.',
    labelNames: ['where'] as const,
    registers: [registry],
    collect() {
      const { queued, pending } = gauges.backlog();
      this.set({ where: 'queued' }, queued);
      this.set({ where: 'standby' }, pending);
    },
  });
  const probes = new Counter({
    name: 'defib_monitor_probes_total',
    help: 'Pings to assemblies whose heartbeats stopped, half an interval before the verdict, by outcome: answered (alive after all), not-current, silent.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Bound once: a heartbeat's outcome is counted ten thousand times a second, without a labels object each.
  const byOutcome = Object.fromEntries((['accepted', 'stale-instance', 'unknown-assembly', 'out-of-order'] as const).map((outcome) => [outcome, heartbeats.labels(outcome)])) as Record<HeartbeatOutcome, Counter.Internal>;
  return {
    probe: (outcome) => probes.inc({ outcome }),
    heartbeat: (outcome) => byOutcome[outcome].inc(),
    staleHeartbeat: () => stale.inc(),
    detected: (lateMs) => detection.observe(Math.max(0, lateMs) / 1000),
    emitted: (type) => events.inc({ type }),
  };
}
