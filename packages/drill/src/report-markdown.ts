/**
 * `drill-report.md`: the drill's report for people — verdict, summary figures, the checks, one
 * row per fault and per disruption, and the timeline picture (`drill-report.svg`, written beside it).
 * Every text that came from the scenario or the services is escaped, so a name cannot break a table.
 */
import type { DrillReport, ReportDisruption, ReportFault } from './drill-report.ts';
import { describeOutcome, describeSteps, formatMs, formatOffset, formatPercentiles, formatRatio } from './report-format.ts';

/** The file name the Markdown report refers to the picture by. */
export const timelineFileName = 'drill-report.svg';

/** Text safe inside a Markdown paragraph or table cell: punctuation that means something is backslash-escaped, lines joined. */
export function markdownText(text: string): string {
  return text
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .replace(/[\\`*_[\]<>|~]/g, '\\$&')
    .replace(/^[#+=-]/, '\\$&');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)];
}

function summaryTable(report: DrillReport): string[] {
  const { summary } = report;
  const { notifications } = summary;
  return table(
    ['figure', 'value'],
    [
      ['faults', String(summary.faults)],
      ['detected', String(summary.detected)],
      ['recovered', String(summary.recovered)],
      ['gave up', String(summary.gaveUp)],
      ['duplicate instances', String(summary.duplicateInstances)],
      ['MTTD p50 / p99', formatPercentiles(summary.mttdMs, formatMs)],
      ['MTTR p50 / p99', formatPercentiles(summary.mttrMs, formatMs)],
      ['detection ÷ timeout p50 / p99 (VM faults)', formatPercentiles(summary.detectionVsTimeout, formatRatio)],
      ['recovery ÷ (timeout + step time) p50 / p99 (VM faults)', formatPercentiles(summary.recoveryVsFloor, formatRatio)],
      [
        'notifications',
        `${notifications.events} events · ${notifications.deliveries} deliveries · ${notifications.duplicates} duplicates · ${notifications.badSignatures} bad signatures · ${notifications.unacknowledged} unacknowledged`,
      ],
    ],
  );
}

function faultRow(fault: ReportFault, runningAt: number): string[] {
  const detected = fault.detectionMs === null ? '—' : `${formatMs(fault.detectionMs)} (${markdownText(fault.detectedBy ?? 'unknown')})`;
  const hooks = fault.reconfigured.length === 0 ? String(fault.hookCalls) : `${fault.hookCalls}; reconfigured ${fault.reconfigured.map(markdownText).join(', ')}`;
  return [
    String(fault.index + 1),
    markdownText(fault.name),
    markdownText(fault.kind),
    markdownText(fault.target),
    formatOffset(fault.injectedAt, runningAt),
    detected,
    formatMs(fault.recoveryMs),
    markdownText(describeOutcome(fault)),
    markdownText(describeSteps(fault.steps)),
    String(fault.notifications),
    hooks,
  ];
}

/** Why steps were skipped or how they failed, from recovery's timeline: a line each, the same note on steps in a row once. */
function stepNotes(faults: readonly ReportFault[]): string[] {
  const notes = faults.flatMap((fault) => {
    const lines: { text: string; times: number }[] = [];
    for (const step of fault.steps) {
      if (step.note === null) continue;
      const text = `#${fault.index + 1} ${markdownText(fault.name)}, ${markdownText(describeSteps([step]))}: ${markdownText(step.note)}`;
      const last = lines.at(-1);
      if (last?.text === text) last.times += 1;
      else lines.push({ text, times: 1 });
    }
    return lines.map(({ text, times }) => `- ${text}${times > 1 ? ` (${times} times)` : ''}`);
  });
  return notes.length === 0 ? [] : ['', 'Step notes:', '', ...notes];
}

function disruptionRow(disruption: ReportDisruption, runningAt: number): string[] {
  const backAfter = disruption.backAt === null ? 'not back' : formatMs(disruption.backAt - disruption.at);
  return [markdownText(disruption.kind), markdownText(disruption.target), formatOffset(disruption.at, runningAt), backAfter];
}

/** The whole Markdown report. Times in the tables are seconds from `runningAt` (when every deployable ran). */
export function renderMarkdownReport(report: DrillReport): string {
  const verdict = report.passed ? 'passed ✔' : 'FAILED ✘';
  const lines = [`# Drill ${markdownText(report.scenario)}: ${verdict}`, ''];
  if (report.description !== null && report.description.trim() !== '') lines.push(markdownText(report.description), '');
  lines.push(
    `Seed ${markdownText(report.seed)} · started ${new Date(report.startedAt).toISOString()} · deployables running after ${formatMs(report.runningAt - report.startedAt)} · ` +
      `faults over ${formatMs(report.finishedAt - report.runningAt)} · wall time ${formatMs(report.wallMs)}. Times below are seconds from when every deployable ran.`,
    '',
    '## Summary',
    '',
    ...summaryTable(report),
    '',
    '## Checks',
    '',
    ...(report.checks.length === 0 ? ['No checks ran.'] : report.checks.map((check) => `- ${check.held ? '✔' : '✘'} **${markdownText(check.name)}**: ${markdownText(check.detail)}`)),
    '',
    '## Faults',
    '',
    ...(report.faults.length === 0
      ? ['No faults were injected.']
      : table(
          ['#', 'fault', 'kind', 'target', 'injected at', 'detected after', 'recovered after', 'outcome', 'ladder steps', 'notifications', 'hook calls'],
          report.faults.map((fault) => faultRow(fault, report.runningAt)),
        )),
    ...stepNotes(report.faults),
    '',
    '## Disruptions',
    '',
    ...(report.disruptions.length === 0
      ? ['None.']
      : table(
          ['disruption', 'target', 'at', 'back after'],
          report.disruptions.map((disruption) => disruptionRow(disruption, report.runningAt)),
        )),
    '',
    '## Timeline',
    '',
    `![timeline](${timelineFileName})`,
    '',
  );
  return lines.join('\n');
}
