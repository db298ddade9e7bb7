/**
 * What a drill found, as `drill-report.json` holds it and the Markdown and SVG reports show it.
 * Times are epoch milliseconds (one machine's clock: the simulator's fault times and the
 * services' event times are read off the same clock); durations are milliseconds.
 */
import type { DrillFault, FaultExpectation } from './drill-scenario.ts';

/** A step of the recovery ladder taken for a fault, from recovery's incident timeline. */
export interface ReportStep {
  /** `restart-resource`, `reboot`, `hard-reboot`, `recreate`, `restart-deployable`. */
  kind: string;
  state: 'intended' | 'verifying' | 'succeeded' | 'failed' | 'skipped';
  assembly: string | null;
  resource: string | null;
  startedAt: number;
  finishedAt: number | null;
  /** Why it was skipped, or how it failed. */
  note: string | null;
}

/** One fault and what became of it. */
export interface ReportFault {
  /** Index in the scenario's `faults`. */
  index: number;
  name: string;
  kind: DrillFault['kind'];
  /** `shop/db`, `shop/db/mysqld`, `cloud sim-ec2`, `host compute-1 of sim-openstack`. */
  target: string;
  /** The assembly lanes it concerns (`deployable/assembly`); empty for a cloud's API. */
  lanes: string[];
  expected: FaultExpectation;
  /** `recovered`, `gave-up`, `withstood`, or `unrecovered` when the drill ran out of time. */
  outcome: FaultExpectation | 'unrecovered';
  injectedAt: number;
  /** When a lasting fault ended (healed by the drill or by its duration). */
  endedAt: number | null;
  /** The first event showing Defib noticed it (`assembly.unresponsive`, `resource.failed`, …). */
  detectedAt: number | null;
  detectedBy: string | null;
  recoveredAt: number | null;
  /** `detectedAt - injectedAt`. */
  detectionMs: number | null;
  /** `recoveredAt - injectedAt`. */
  recoveryMs: number | null;
  /** For VM faults: the assembly's `missed × interval`. */
  timeoutMs: number | null;
  /** For VM faults: the simulated time of the cloud steps recovery took (reboot, delete and build …) and the agent's start. */
  stepTimeMs: number | null;
  steps: ReportStep[];
  incidents: string[];
  /** Webhook deliveries (distinct `webhook-id`) the drill's receiver got about this fault's subject. */
  notifications: number;
  /** Hook calls for it (ip-change): the hook subscription's deliveries of its `assembly.address-changed`. */
  hookCalls: number;
  /** Resources reconfigured because of it (ip-change). */
  reconfigured: string[];
}

/** A disruption of Defib itself and when it happened. */
export interface ReportDisruption {
  kind: string;
  /** What it struck: `monitor#1`, `broker connections (6)`, `database connections (23)`. */
  target: string;
  at: number;
  /** When the struck part answered again (a killed service ready, every service ready). */
  backAt: number | null;
}

export interface Percentiles {
  p50: number | null;
  p99: number | null;
}

/** One invariant and whether it held, with what broke it. */
export interface ReportCheck {
  name: string;
  held: boolean;
  detail: string;
}

export interface DrillReport {
  scenario: string;
  description: string | null;
  seed: string;
  startedAt: number;
  /** When every deployable ran and the fault clock started. */
  runningAt: number;
  finishedAt: number;
  /** Wall time from the command's start to the report, milliseconds. */
  wallMs: number;
  /** `deployable/assembly` lanes, in manifest order. */
  lanes: string[];
  summary: {
    faults: number;
    detected: number;
    recovered: number;
    gaveUp: number;
    /** Overlaps of two live instances of one assembly, from the simulator's timeline. */
    duplicateInstances: number;
    mttdMs: Percentiles;
    mttrMs: Percentiles;
    /** VM faults: detection time over the assembly's timeout. */
    detectionVsTimeout: Percentiles;
    /** VM faults: recovery time over (timeout + the simulated time of the recovering step). */
    recoveryVsFloor: Percentiles;
    notifications: { events: number; deliveries: number; duplicates: number; badSignatures: number; unacknowledged: number };
  };
  faults: ReportFault[];
  disruptions: ReportDisruption[];
  checks: ReportCheck[];
  /** Every check held: the exit code is 0. */
  passed: boolean;
}

/** The nearest-rank percentile of `values` (null when there are none). */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}

export function percentiles(values: readonly number[]): Percentiles {
  return { p50: percentile(values, 50), p99: percentile(values, 99) };
}
