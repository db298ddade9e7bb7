/**
 * Runs a drill from `drills/` the way `pnpm drill` does — the same loader, the same runner, the
 * same real processes — against the test run's PostgreSQL and RabbitMQ, and keeps its progress
 * lines and report for the test to read. The chaos suite tests the drill itself.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProgress, loadDrillScenario, resolveDrillScenario, runDrill, writeReportFiles, type DrillReport, type ReportFault } from '@defib/drill';
import { inject } from 'vitest';

const drillsDir = fileURLToPath(new URL('../../drills/', import.meta.url));

export interface DrillRun {
  report: DrillReport;
  /** What the drill printed while it ran. */
  lines: string[];
  /** Where its reports and its processes' logs are. */
  outDir: string;
}

export async function runNamedDrill(name: string): Promise<DrillRun> {
  const { databaseUrl, amqpUrl } = inject('infrastructure');
  const plan = loadDrillScenario(resolveDrillScenario(name, drillsDir));
  const outDir = mkdtempSync(join(tmpdir(), `defib-drill-${name}-`));
  const lines: string[] = [];
  const progress = createProgress({ write: (text) => lines.push(...text.split('\n').filter((line) => line !== '')), terminal: false, totalFaults: plan.scenario.faults.length });
  const report = await runDrill({ plan, databaseUrl, amqpUrl, outDir, progress });
  await writeReportFiles(report, outDir);
  return { report, lines, outDir };
}

/** The fault of that name; fails the test when the drill has none. */
export function faultNamed(report: DrillReport, name: string): ReportFault {
  const fault = report.faults.find((candidate) => candidate.name === name);
  if (fault === undefined) throw new Error(`the drill has no fault named ${name} (it has ${report.faults.map((candidate) => candidate.name).join(', ')})`);
  return fault;
}

/** A check of the report by name, for `expect(...).toMatchObject({ held: true })` with its detail shown when it fails. */
export function checkNamed(report: DrillReport, prefix: string): { name: string; held: boolean; detail: string } {
  const check = report.checks.find((candidate) => candidate.name.startsWith(prefix));
  if (check === undefined) throw new Error(`the report has no check "${prefix}…" (it has ${report.checks.map((candidate) => candidate.name).join('; ')})`);
  return check;
}

/** The ladder steps taken for a fault, as `kind:state`, in order. */
export function stepsTaken(fault: ReportFault): string[] {
  return fault.steps.map((step) => `${step.kind}:${step.state}`);
}
