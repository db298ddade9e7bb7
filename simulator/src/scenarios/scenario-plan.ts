/**
 * A scenario's fault schedule, computed from its seed alone: when each fault strikes, in cloud
 * time from the start. Pure: the same scenario always gives the same plan.
 */
import { formatDuration } from '@defib/contracts';
import type { FaultSpec } from '../faults/fault-spec.ts';
import { SeededRandom } from '@defib/platform';
import type { Scenario, ScheduledFault } from './scenario-schema.ts';

/** One fault due at one time. */
export interface PlannedFault {
  /** Its entry in the scenario's `faults`. */
  readonly entry: number;
  /** Which of the entry's `count` repetitions. */
  readonly occurrence: number;
  /** Cloud time from the start of the scenario. */
  readonly atMs: number;
  readonly spec: FaultSpec;
}

/** Every fault of the scenario with its time, earliest first (ties in file order). */
export function planScenario(scenario: Scenario): PlannedFault[] {
  const root = new SeededRandom(scenario.seed).fork('scenario');
  const planned = scenario.faults.flatMap((fault, entry) => {
    // One stream per entry: adding a fault to a scenario does not move the others.
    const random = root.fork(`faults[${entry}]`);
    const spec = withoutSchedule(fault);
    return Array.from({ length: fault.count }, (_, occurrence) => ({ entry, occurrence, atMs: timeOf(fault, occurrence, random), spec }));
  });
  return planned.sort((a, b) => a.atMs - b.atMs || a.entry - b.entry || a.occurrence - b.occurrence);
}

function timeOf(fault: ScheduledFault, occurrence: number, random: SeededRandom): number {
  if (typeof fault.at === 'number') return fault.at + occurrence * (fault.every ?? 0);
  const [from, to] = fault.at.between;
  return random.int(from, to);
}

function withoutSchedule(fault: ScheduledFault): FaultSpec {
  const { at: _at, count: _count, every: _every, ...spec } = fault;
  return spec;
}

/** `30s`, `1500ms`: how a planned time is shown. */
export function formatOffset(ms: number): string {
  return formatDuration(ms);
}
