/**
 * The gave-up drill: a VM fails while none of its replacements can boot. Recovery recreates it,
 * restarts the whole deployable, and gives up loudly when its budgets are spent.
 */
import type { DrillReport } from '@defib/drill';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkNamed, faultNamed, runNamedDrill, stepsTaken, type DrillRun } from './drill-harness.ts';

describe('the gave-up drill', () => {
  let run: DrillRun;
  let report: DrillReport;

  beforeAll(async () => {
    run = await runNamedDrill('gave-up');
    report = run.report;
  }, 300_000);

  it('gives up after recreating the VM and restarting the deployable, as the scenario expects, and passes', () => {
    const fault = faultNamed(report, 'the db VM fails');
    expect(fault.outcome, run.lines.join('\n')).toBe('gave-up');
    const steps = stepsTaken(fault);
    expect(steps).toContain('recreate:failed');
    expect(steps.some((step) => step.startsWith('restart-deployable'))).toBe(true);
    expect(report.passed).toBe(true);
  });

  it('never runs two copies of the VM while it tries', () => {
    expect(checkNamed(report, 'never two live instances')).toMatchObject({ held: true });
  });
});
