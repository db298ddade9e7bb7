/** Recovery's Prometheus metrics: steps by kind and outcome, deployables held, actions per cloud, open incidents. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ActionSlots } from './action-slots.ts';
import type { StepKind, StepState } from './tables.ts';

export interface RecoveryMetrics {
  /** Counts a step that reached its end. */
  readonly stepFinished: (kind: StepKind, outcome: StepState) => void;
}

export function createRecoveryMetrics(registry: Registry, sources: { held: () => number; slots: ActionSlots; openIncidents: () => Promise<number> }): RecoveryMetrics {
  const steps = new Counter({ name: 'defib_recovery_steps_total', help: 'Recovery steps that ended, by kind and outcome (succeeded, failed, skipped).', labelNames: ['kind', 'outcome'], registers: [registry] });
  new Gauge({
    name: 'defib_recovery_deployables_held',
    help: 'Deployables this replica holds the lease of and works on.',
    registers: [registry],
    collect() {
      this.set(sources.held());
    },
  });
  new Gauge({
    name: 'defib_recovery_actions',
    help: 'Recovery actions per cloud: running (holding one of RECOVERY_CLOUD_ACTIONS) or waiting for one.',
    labelNames: ['cloud', 'state'],
    registers: [registry],
    collect() {
      for (const [cloud, { running, waiting }] of Object.entries(sources.slots.snapshot())) {
        this.set({ cloud, state: 'running' }, running);
        this.set({ cloud, state: 'waiting' }, waiting);
      }
    },
  });
  new Gauge({
    name: 'defib_recovery_open_incidents',
    help: 'Incidents not closed (open or errored), across all replicas.',
    registers: [registry],
    async collect() {
      this.set(await sources.openIncidents().catch(() => -1));
    },
  });
  return { stepFinished: (kind, outcome) => steps.inc({ kind, outcome }) };
}
