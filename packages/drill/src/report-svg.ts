/**
 * `drill-report.svg`: the drill on one picture, readable at a glance. Time runs left to right in
 * seconds from `runningAt`; each assembly has a lane. A fault shows as a red ▼ where it was
 * injected (with its name), an orange ◆ where Defib detected it, a bar to its recovery (green end)
 * or, when recovery gave up or ran out of time, a grey dashed bar; under the bar, the ladder steps
 * taken, coloured by kind (failed ones hatched, skipped ones outlined). A cloud-API fault strikes
 * no lane: it is a shaded band across all of them. Disruptions of Defib itself are dashed
 * vertical lines, labelled under the lanes. A legend closes the picture.
 *
 * Self-contained: no scripts, no external fonts or images; every text is XML-escaped.
 */
import type { DrillReport, ReportDisruption, ReportFault, ReportStep } from './drill-report.ts';
import { describeOutcome, describeSteps, faultLabel, formatMs, formatOffset, formatPercentiles } from './report-format.ts';

const width = 1_200;
const labelX = 12;
const plotLeft = 190;
const plotRight = width - 24;
const trackHeight = 32;
const rowHeight = 18;
const fontFamily = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

const colours = {
  injection: '#d62728',
  detection: '#ff7f0e',
  recovered: '#2ca02c',
  recoveredBar: '#d5efcf',
  unrecovered: '#8a8a8a',
  unrecoveredBar: '#ececec',
  withstoodBar: '#dbe7f3',
  apiBand: '#f2c94c',
  disruption: '#555555',
  grid: '#e3e3e3',
  text: '#222222',
  muted: '#666666',
  laneShade: '#f6f7f9',
} as const;

/** A colour per ladder step kind; unknown kinds share the last. */
export const stepColours: Readonly<Record<string, string>> = {
  'restart-resource': '#1f77b4',
  reboot: '#9467bd',
  'hard-reboot': '#e377c2',
  recreate: '#17becf',
  'restart-deployable': '#8c564b',
};
const otherStepColour = '#bcbd22';

const xmlEntities: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text safe in XML content and attribute values; control characters XML cannot hold are dropped. */
export function xmlText(text: string): string {
  return text.replace(/[&<>"']/g, (char) => xmlEntities[char] ?? char).replace(/\p{Cc}/gu, (char) => ('\t\n\r'.includes(char) ? char : ''));
}

/** A rough width of `text` at `fontSize` in a proportional sans-serif: enough to keep labels apart. */
function textWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.58;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

const round = (value: number): string => String(Math.round(value * 10) / 10);

/** Places spans on the fewest tracks so that none overlap: the track index of each, in order. */
function packTracks(spans: readonly { from: number; to: number }[]): number[] {
  const trackEnds: number[] = [];
  const order = spans.map((span, index) => ({ ...span, index })).sort((a, b) => a.from - b.from);
  const tracks = new Array<number>(spans.length).fill(0);
  for (const span of order) {
    let track = trackEnds.findIndex((end) => end <= span.from);
    if (track < 0) track = trackEnds.push(span.to) - 1;
    else trackEnds[track] = span.to;
    tracks[span.index] = track;
  }
  return tracks;
}

/** Time in ms since `runningAt` → x; with the ticks of the axis. */
function timeScale(report: DrillReport): { x: (at: number) => number; ticks: number[] } {
  const offsets = [
    report.runningAt,
    report.finishedAt,
    ...report.faults.flatMap((fault) => [fault.injectedAt, fault.detectedAt, fault.recoveredAt, fault.endedAt, ...fault.steps.flatMap((step) => [step.startedAt, step.finishedAt])]),
    ...report.disruptions.flatMap((disruption) => [disruption.at, disruption.backAt]),
  ]
    .filter((at): at is number => at !== null)
    .map((at) => at - report.runningAt);
  const from = Math.min(...offsets);
  const to = Math.max(from + 1_000, ...offsets);
  const x = (at: number): number => plotLeft + ((at - report.runningAt - from) / (to - from)) * (plotRight - plotLeft);
  const stepMs = [500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000].find((candidate) => (to - from) / candidate <= 16) ?? 7_200_000;
  const ticks: number[] = [];
  for (let tick = Math.ceil(from / stepMs) * stepMs; tick <= to; tick += stepMs) ticks.push(tick);
  return { x, ticks };
}

/** Where a fault's bar ends: its recovery, else its last step or its end, else the drill's end. */
function faultEnd(fault: ReportFault, report: DrillReport): number {
  if (fault.recoveredAt !== null) return fault.recoveredAt;
  const lastActs = [fault.detectedAt, ...fault.steps.map((step) => step.finishedAt ?? step.startedAt)].filter((at): at is number => at !== null);
  if (fault.outcome === 'gave-up' && lastActs.length > 0) return Math.max(...lastActs);
  return fault.endedAt ?? report.finishedAt;
}

function faultTooltip(fault: ReportFault, report: DrillReport): string {
  const lines = [
    `#${fault.index + 1} ${faultLabel(fault)}`,
    `injected at ${formatOffset(fault.injectedAt, report.runningAt)}`,
    `detected after ${formatMs(fault.detectionMs)}${fault.detectedBy === null ? '' : ` (${fault.detectedBy})`}`,
    `recovered after ${formatMs(fault.recoveryMs)}`,
    `outcome ${describeOutcome(fault)}`,
    `steps ${describeSteps(fault.steps)}`,
    ...fault.steps.filter((step) => step.note !== null).map((step) => `${step.kind}: ${step.note ?? ''}`),
    `${fault.notifications} notifications${fault.hookCalls > 0 ? `, ${fault.hookCalls} hook calls` : ''}`,
  ];
  return lines.join('\n');
}

function injectionMarker(fault: ReportFault, x: number, top: number, bottom: number): string {
  return (
    `<path class="injection" data-fault="${fault.index}" d="M${round(x - 5)},${round(top)} L${round(x + 5)},${round(top)} L${round(x)},${round(top + 8)} Z" fill="${colours.injection}"/>` +
    `<line x1="${round(x)}" y1="${round(top + 8)}" x2="${round(x)}" y2="${round(bottom)}" stroke="${colours.injection}" stroke-width="1.5"/>`
  );
}

function detectionMarker(fault: ReportFault, x: number, y: number): string {
  return `<path class="detection" data-fault="${fault.index}" d="M${round(x)},${round(y - 5)} L${round(x + 5)},${round(y)} L${round(x)},${round(y + 5)} L${round(x - 5)},${round(y)} Z" fill="${colours.detection}" stroke="#fff" stroke-width="0.8"/>`;
}

function stepSegment(step: ReportStep, x: (at: number) => number, end: number, y: number): string {
  const colour = stepColours[step.kind] ?? otherStepColour;
  const left = x(step.startedAt);
  // One pixel short of its end, so that steps following each other stay apart.
  const segmentWidth = Math.max(3, x(step.finishedAt ?? end) - left - 1);
  const box = `x="${round(left)}" y="${round(y)}" width="${round(segmentWidth)}" height="6"`;
  const title = `<title>${xmlText(`${step.kind} ${step.state}${step.note === null ? '' : `: ${step.note}`}`)}</title>`;
  switch (step.state) {
    case 'failed':
      return `<g class="step step-failed">${title}<rect ${box} fill="${colour}"/><rect ${box} fill="url(#hatch)" stroke="${colours.injection}" stroke-width="0.8"/></g>`;
    case 'skipped':
      return `<g class="step step-skipped">${title}<rect ${box} fill="#fff" stroke="${colour}" stroke-width="1" stroke-dasharray="2 1.5"/></g>`;
    case 'succeeded':
    case 'intended':
    case 'verifying':
      return `<g class="step step-${step.state}">${title}<rect ${box} fill="${colour}"${step.state === 'succeeded' ? '' : ' fill-opacity="0.5"'}/></g>`;
  }
}

/** A fault drawn on one track of one lane, `top` being the track's top. */
function faultOnLane(fault: ReportFault, lane: string, report: DrillReport, x: (at: number) => number, top: number): string {
  const start = x(fault.injectedAt);
  const endAt = faultEnd(fault, report);
  const end = Math.max(start + 2, x(endAt));
  const recovered = fault.outcome === 'recovered';
  const withstood = fault.outcome === 'withstood';
  const barY = top + 14;
  const parts = [
    `<rect class="fault-bar" x="${round(start)}" y="${round(barY)}" width="${round(end - start)}" height="8" rx="2" ` +
      (recovered ? `fill="${colours.recoveredBar}" stroke="${colours.recovered}" stroke-width="0.8"/>` : withstood ? `fill="${colours.withstoodBar}"/>` : `fill="${colours.unrecoveredBar}" stroke="${colours.unrecovered}" stroke-width="1" stroke-dasharray="4 2"/>`),
  ];
  const assembly = lane.slice(lane.indexOf('/') + 1);
  const steps = fault.steps.filter((step) => fault.lanes.length <= 1 || step.assembly === null || step.assembly === assembly);
  parts.push(...steps.map((step) => stepSegment(step, x, endAt, barY + 9)));
  if (recovered) parts.push(`<rect class="recovery" x="${round(end - 1.5)}" y="${round(top + 9)}" width="3" height="18" fill="${colours.recovered}"/>`);
  else if (fault.outcome === 'gave-up') parts.push(`<path class="gave-up" d="M${round(end - 4)},${round(barY - 2)} l8,12 m0,-12 l-8,12" stroke="${colours.unrecovered}" stroke-width="2"/>`);
  parts.push(injectionMarker(fault, start, top + 3, barY + 8));
  if (fault.detectedAt !== null) parts.push(detectionMarker(fault, x(fault.detectedAt), barY + 4));
  parts.push(`<text x="${round(start + 8)}" y="${round(top + 10)}" font-size="10" fill="${colours.text}">${xmlText(truncate(fault.name, 48))}</text>`);
  return `<g class="fault" data-fault="${fault.index}"><title>${xmlText(faultTooltip(fault, report))}</title>${parts.join('')}</g>`;
}

/** The horizontal extent a fault needs on a track: its bar and its label. */
function faultSpan(fault: ReportFault, report: DrillReport, x: (at: number) => number): { from: number; to: number } {
  const start = x(fault.injectedAt);
  return { from: start - 6, to: Math.max(x(faultEnd(fault, report)) + 6, start + 8 + textWidth(truncate(fault.name, 48), 10) + 10) };
}

interface LegendItem {
  symbol: string;
  label: string;
}

function legendItems(): LegendItem[] {
  const swatch = (fill: string, extra = ''): string => `<rect x="0" y="-7" width="16" height="8" fill="${fill}"${extra}/>`;
  return [
    { symbol: `<path d="M3,-9 L13,-9 L8,-1 Z" fill="${colours.injection}"/>`, label: 'fault injected' },
    { symbol: `<path d="M8,-9 L13,-4 L8,1 L3,-4 Z" fill="${colours.detection}"/>`, label: 'detected' },
    { symbol: `${swatch(colours.recoveredBar, ` stroke="${colours.recovered}" stroke-width="0.8"`)}<rect x="14" y="-9" width="3" height="12" fill="${colours.recovered}"/>`, label: 'until recovered' },
    { symbol: swatch(colours.unrecoveredBar, ` stroke="${colours.unrecovered}" stroke-dasharray="4 2"`), label: 'gave up / unrecovered' },
    ...Object.entries(stepColours).map(([kind, colour]) => ({ symbol: swatch(colour), label: kind })),
    { symbol: `${swatch(stepColours.reboot ?? otherStepColour)}${swatch('url(#hatch)', ` stroke="${colours.injection}" stroke-width="0.8"`)}`, label: 'step failed' },
    { symbol: swatch('#fff', ` stroke="${colours.muted}" stroke-dasharray="2 1.5"`), label: 'step skipped' },
    { symbol: swatch(colours.apiBand, ' fill-opacity="0.35"'), label: 'cloud API fault' },
    { symbol: `<line x1="8" y1="-10" x2="8" y2="3" stroke="${colours.disruption}" stroke-dasharray="3 2" stroke-width="1.5"/>`, label: 'disruption of Defib' },
  ];
}

/** The legend's rows from `top`; returns the markup and the y below it. */
function legend(top: number): { markup: string; bottom: number } {
  const parts: string[] = [];
  let cursorX = labelX;
  let baseline = top + 12;
  for (const item of legendItems()) {
    const itemWidth = 22 + textWidth(item.label, 11) + 18;
    if (cursorX + itemWidth > width - labelX) {
      cursorX = labelX;
      baseline += rowHeight;
    }
    parts.push(`<g transform="translate(${round(cursorX)},${round(baseline)})">${item.symbol}<text x="22" y="0" font-size="11" fill="${colours.text}">${xmlText(item.label)}</text></g>`);
    cursorX += itemWidth;
  }
  return { markup: `<g class="legend">${parts.join('')}</g>`, bottom: baseline + 10 };
}

function disruptionLabel(disruption: ReportDisruption): string {
  return `${disruption.kind} ${disruption.target}`;
}

/** The SVG timeline of a drill. */
export function renderSvgTimeline(report: DrillReport): string {
  const { x, ticks } = timeScale(report);
  const knownLanes = new Set(report.lanes);
  const laneFaults = new Map(report.lanes.map((lane) => [lane, report.faults.filter((fault) => fault.lanes.includes(lane))]));
  const bandFaults = report.faults.filter((fault) => !fault.lanes.some((lane) => knownLanes.has(lane)));

  const axisY = 72;
  const bandRows = packTracks(bandFaults.map((fault) => ({ from: x(fault.injectedAt) - 6, to: Math.max(x(faultEnd(fault, report)), x(fault.injectedAt) + 10 + textWidth(fault.name, 10)) + 8 })));
  const bandTop = axisY + 6;
  const lanesTop = bandTop + (bandFaults.length === 0 ? 0 : (Math.max(...bandRows) + 1) * rowHeight + 4);
  const laneLayout: { lane: string; top: number; height: number; tracks: number[] }[] = [];
  let cursor = lanesTop;
  for (const lane of report.lanes) {
    const faults = laneFaults.get(lane) ?? [];
    const tracks = packTracks(faults.map((fault) => faultSpan(fault, report, x)));
    const height = Math.max(1, faults.length === 0 ? 1 : Math.max(...tracks) + 1) * trackHeight + 8;
    laneLayout.push({ lane, top: cursor, height, tracks });
    cursor += height;
  }
  const lanesBottom = Math.max(cursor, lanesTop + trackHeight);
  const disruptionRows = packTracks(report.disruptions.map((disruption) => ({ from: x(disruption.at) - 2, to: Math.max(x(disruption.backAt ?? disruption.at), x(disruption.at) + 6 + textWidth(disruptionLabel(disruption), 10)) + 8 })));
  const disruptionsTop = lanesBottom + 4;
  const legendTop = disruptionsTop + (report.disruptions.length === 0 ? 0 : (Math.max(...disruptionRows) + 1) * rowHeight) + 12;
  const { markup: legendMarkup, bottom } = legend(legendTop);
  const height = Math.ceil(bottom + 8);

  const verdict = report.passed ? 'passed' : 'FAILED';
  const subtitle = `seed ${report.seed} · ${report.summary.faults} faults, ${report.summary.recovered} recovered, ${report.summary.gaveUp} gave up · MTTD p50/p99 ${formatPercentiles(report.summary.mttdMs, formatMs)} · MTTR p50/p99 ${formatPercentiles(report.summary.mttrMs, formatMs)} · duplicate instances ${report.summary.duplicateInstances}`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${xmlText(fontFamily)}" role="img" aria-labelledby="drill-title">`,
    `<title id="drill-title">${xmlText(`Drill ${report.scenario}: ${verdict}`)}</title>`,
    '<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="1.6" height="4" fill="#ffffff" fill-opacity="0.85"/></pattern></defs>',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${labelX}" y="24" font-size="16" font-weight="bold" fill="${colours.text}">${xmlText(`Drill ${report.scenario}: `)}<tspan fill="${report.passed ? colours.recovered : colours.injection}">${verdict}</tspan></text>`,
    `<text x="${labelX}" y="42" font-size="11" fill="${colours.muted}">${xmlText(subtitle)}</text>`,
  ];

  for (const [index, layout] of laneLayout.entries()) {
    if (index % 2 === 0) out.push(`<rect x="0" y="${round(layout.top)}" width="${width}" height="${round(layout.height)}" fill="${colours.laneShade}"/>`);
  }
  out.push(`<g class="axis">`, `<line x1="${plotLeft}" y1="${axisY}" x2="${plotRight}" y2="${axisY}" stroke="${colours.muted}"/>`);
  for (const tick of ticks) {
    const tickX = x(report.runningAt + tick);
    out.push(
      `<line x1="${round(tickX)}" y1="${axisY}" x2="${round(tickX)}" y2="${round(lanesBottom)}" stroke="${colours.grid}"/>`,
      `<line x1="${round(tickX)}" y1="${axisY - 4}" x2="${round(tickX)}" y2="${axisY}" stroke="${colours.muted}"/>`,
      `<text x="${round(tickX)}" y="${axisY - 8}" font-size="10" text-anchor="middle" fill="${colours.muted}">${xmlText(`${tick / 1_000} s`)}</text>`,
    );
  }
  out.push(`<text x="${labelX}" y="${axisY - 8}" font-size="10" fill="${colours.muted}">seconds from running</text>`, '</g>');

  for (const [index, fault] of bandFaults.entries()) {
    const start = x(fault.injectedAt);
    const end = Math.max(start + 2, x(faultEnd(fault, report)));
    const rowTop = bandTop + (bandRows[index] ?? 0) * rowHeight;
    const label = `${fault.name} · ${formatMs(faultEnd(fault, report) - fault.injectedAt)}`;
    out.push(
      `<g class="fault api-fault" data-fault="${fault.index}"><title>${xmlText(faultTooltip(fault, report))}</title>`,
      `<rect class="api-band" x="${round(start)}" y="${round(rowTop)}" width="${round(end - start)}" height="${round(lanesBottom - rowTop)}" fill="${colours.apiBand}" fill-opacity="0.2" stroke="${colours.apiBand}" stroke-dasharray="3 2"/>`,
      injectionMarker(fault, start, rowTop + 2, rowTop + 12),
      `<text x="${round(start + 8)}" y="${round(rowTop + 12)}" font-size="10" fill="${colours.text}">${xmlText(label)}</text>`,
      '</g>',
    );
  }

  for (const layout of laneLayout) {
    out.push(`<text class="lane-label" x="${labelX}" y="${round(layout.top + layout.height / 2 + 4)}" font-size="12" fill="${colours.text}"><title>${xmlText(layout.lane)}</title>${xmlText(truncate(layout.lane, 26))}</text>`);
    const faults = laneFaults.get(layout.lane) ?? [];
    for (const [index, fault] of faults.entries()) out.push(faultOnLane(fault, layout.lane, report, x, layout.top + 4 + (layout.tracks[index] ?? 0) * trackHeight));
  }

  for (const [index, disruption] of report.disruptions.entries()) {
    const at = x(disruption.at);
    const rowTop = disruptionsTop + (disruptionRows[index] ?? 0) * rowHeight;
    const back = disruption.backAt === null ? 'not back' : `back after ${formatMs(disruption.backAt - disruption.at)}`;
    out.push(
      `<g class="disruption"><title>${xmlText(`${disruptionLabel(disruption)} at ${formatOffset(disruption.at, report.runningAt)}, ${back}`)}</title>`,
      `<line x1="${round(at)}" y1="${axisY}" x2="${round(at)}" y2="${round(rowTop + 14)}" stroke="${colours.disruption}" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    );
    if (disruption.backAt !== null) out.push(`<rect x="${round(at)}" y="${round(rowTop + 11)}" width="${round(Math.max(2, x(disruption.backAt) - at))}" height="3" fill="${colours.disruption}" fill-opacity="0.5"/>`);
    out.push(`<text x="${round(at + 4)}" y="${round(rowTop + 9)}" font-size="10" fill="${colours.text}">${xmlText(disruptionLabel(disruption))}</text>`, '</g>');
  }

  out.push(legendMarkup, '</svg>', '');
  return out.join('\n');
}
