/**
 * The drill's report on disk — `drill-report.json`, `drill-report.md`, `drill-report.svg` — and
 * the short text it prints at the end: a line per fault, the figures, each check, the verdict and
 * where the files are.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DrillReport, ReportFault } from './drill-report.ts';
import { describeOutcome, describeSteps, faultLabel, formatMs, formatPercentiles, formatRatio } from './report-format.ts';
import { renderMarkdownReport, timelineFileName } from './report-markdown.ts';
import { renderSvgTimeline } from './report-svg.ts';

/** The absolute paths of the three report files. */
export interface ReportFiles {
  json: string;
  markdown: string;
  svg: string;
}

/** Writes the three report files into `dir` (created with its parents when missing), replacing earlier ones. */
export async function writeReportFiles(report: DrillReport, dir: string): Promise<ReportFiles> {
  await mkdir(dir, { recursive: true });
  const files: ReportFiles = { json: resolve(dir, 'drill-report.json'), markdown: resolve(dir, 'drill-report.md'), svg: resolve(dir, timelineFileName) };
  await Promise.all([
    writeFile(files.json, `${JSON.stringify(report, null, 2)}\n`),
    writeFile(files.markdown, renderMarkdownReport(report)),
    writeFile(files.svg, renderSvgTimeline(report)),
  ]);
  return files;
}

function faultLine(fault: ReportFault, labelWidth: number): string {
  const mark = fault.outcome === fault.expected ? '✔' : '✘';
  const detected = fault.detectionMs === null ? 'not detected' : `detected ${formatMs(fault.detectionMs)}`;
  const recovered = fault.recoveryMs === null ? '' : `, recovered ${formatMs(fault.recoveryMs)}`;
  const steps = fault.steps.length === 0 ? '' : ` · ${describeSteps(fault.steps)}`;
  return `  ${mark} ${`#${fault.index + 1} ${faultLabel(fault)}`.padEnd(labelWidth)}  ${describeOutcome(fault)}: ${detected}${recovered}${steps}`;
}

/** What the drill prints on stdout when it ends; `files` adds where the report was written. */
export function summaryLines(report: DrillReport, files?: ReportFiles): string[] {
  const { summary } = report;
  const labelWidth = Math.max(0, ...report.faults.map((fault) => `#${fault.index + 1} ${faultLabel(fault)}`.length));
  const lines = [
    `drill ${report.scenario}: ${summary.faults} faults, ${summary.detected} detected, ${summary.recovered} recovered, ${summary.gaveUp} gave up, ${summary.duplicateInstances} duplicate instances (wall time ${formatMs(report.wallMs)})`,
    ...report.faults.map((fault) => faultLine(fault, labelWidth)),
    `MTTD p50/p99 ${formatPercentiles(summary.mttdMs, formatMs)} (${formatPercentiles(summary.detectionVsTimeout, formatRatio)} of the timeout) · ` +
      `MTTR p50/p99 ${formatPercentiles(summary.mttrMs, formatMs)} (${formatPercentiles(summary.recoveryVsFloor, formatRatio)} of timeout + step time)`,
    ...report.checks.map((check) => `${check.held ? '✔' : '✘'} ${check.name}: ${check.detail}`),
    report.passed ? 'PASSED' : 'FAILED',
  ];
  if (files !== undefined) lines.push(`report: ${files.markdown} (with ${files.svg} and ${files.json})`);
  return lines;
}
