/**
 * The default drill, as `./defib` runs it: a three-tier deployable on the simulated OpenStack and a
 * two-tier one on the simulated EC2, ten faults of mixed kinds. Every kind of fault is detected and
 * recovered the way the ladder says, never with two live copies of a VM, and every event reaches
 * the drill's webhook receiver exactly once with a valid signature.
 */
import type { DrillReport } from '@defib/drill';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkNamed, faultNamed, runNamedDrill, stepsTaken, type DrillRun } from './drill-harness.ts';

describe('the default drill', () => {
  let run: DrillRun;
  let report: DrillReport;

  beforeAll(async () => {
    run = await runNamedDrill('default');
    report = run.report;
  }, 300_000);

  it('detects and recovers every fault, and withstands the cloud faults', () => {
    const unrecovered = report.faults.filter((fault) => fault.outcome !== fault.expected).map((fault) => `${fault.name}: ${fault.outcome}`);
    expect(unrecovered, run.lines.join('\n')).toEqual([]);
    expect(report.summary).toMatchObject({ faults: 10, detected: 8, recovered: 8, gaveUp: 0 });
  });

  it('never runs two live instances of one assembly', () => {
    expect(report.summary.duplicateInstances).toBe(0);
    expect(checkNamed(report, 'never two live instances')).toMatchObject({ held: true });
  });

  it('delivers every event to the receiver exactly once, each signature valid, none lost', () => {
    for (const name of ['every event delivered exactly once', 'every signature valid', 'no notification lost']) expect(checkNamed(report, name)).toMatchObject({ held: true });
    expect(report.summary.notifications.events).toBeGreaterThan(50);
    expect(report.faults.filter((fault) => fault.expected === 'recovered').every((fault) => fault.notifications > 0)).toBe(true);
  });

  it('restarts a crashed resource through its agent', () => {
    expect(stepsTaken(faultNamed(report, 'mysqld crashes'))).toEqual(['restart-resource:succeeded']);
  });

  it('escalates a flapping resource from restarts to recreating its VM', () => {
    const steps = stepsTaken(faultNamed(report, 'java flaps until its VM is recreated'));
    expect(steps.filter((step) => step === 'restart-resource:succeeded').length).toBeGreaterThanOrEqual(1);
    expect(steps.at(-1)).toBe('recreate:succeeded');
  });

  it('reboots a hung guest and starts a stopped VM, detecting each within its heartbeat timeout', () => {
    for (const name of ["shop's web guest hangs", "blog's web VM stops"]) {
      const fault = faultNamed(report, name);
      expect(stepsTaken(fault).at(-1)).toMatch(/reboot:succeeded$/);
      expect(fault.detectionMs).toBeLessThanOrEqual((fault.timeoutMs ?? 0) * 1.5);
    }
  });

  it('does not reboot a VM whose agent is cut off from a healthy guest: it fences it and recreates it', () => {
    const steps = stepsTaken(faultNamed(report, "blog's db agent is cut off"));
    expect(steps).toContain('recreate:succeeded');
    expect(steps).not.toContain('reboot:succeeded');
  });

  it('reconfigures the dependent resource and calls the hook when an address changes', () => {
    const fault = faultNamed(report, "shop's db moves to a new address");
    expect(fault.reconfigured).toEqual(['shop/app/java']);
    expect(fault.hookCalls).toBeGreaterThanOrEqual(1);
  });

  it('recreates again when the first replacement fails to boot', () => {
    expect(stepsTaken(faultNamed(report, "shop's app VM fails, and its first replacement does not boot"))).toEqual(['recreate:failed', 'recreate:succeeded']);
  });

  it('recovers a VM while the cloud throttles half its calls', () => {
    expect(faultNamed(report, "blog's web VM stops while EC2 throttles")).toMatchObject({ outcome: 'recovered' });
  });
});
