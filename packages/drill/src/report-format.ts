/**
 * How a drill's figures read to a person, shared by the progress lines, the printed summary and
 * the Markdown and SVG reports so that all four say a thing the same way.
 */
import type { ReportFault, ReportStep } from './drill-report.ts';

/** A duration for people: `850 ms`, `3.21 s`, `1 min 32 s`; `—` when there is none. */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1_000).toFixed(2)} s`;
  const seconds = Math.round(abs / 1_000);
  return `${sign}${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** A moment of the drill as seconds from `runningAt`, one decimal: `12.3 s`. */
export function formatOffset(at: number | null, runningAt: number): string {
  return at === null ? '—' : `${((at - runningAt) / 1_000).toFixed(1)} s`;
}

/** A ratio such as detection time over timeout: `1.04×`. */
export function formatRatio(ratio: number | null): string {
  return ratio === null ? '—' : `${ratio.toFixed(2)}×`;
}

/** `p50 / p99` of a pair of percentiles, each through `format`. */
export function formatPercentiles(values: { p50: number | null; p99: number | null }, format: (value: number | null) => string): string {
  return `${format(values.p50)} / ${format(values.p99)}`;
}

const stepMarks: Record<ReportStep['state'], string> = { succeeded: ' ✔', failed: ' ✘', skipped: ' (skipped)', intended: ' …', verifying: ' …' };

/** The ladder steps taken, in order: `restart-resource ✘ → reboot ✔`; `—` when none were. */
export function describeSteps(steps: readonly Pick<ReportStep, 'kind' | 'state'>[]): string {
  return steps.length === 0 ? '—' : steps.map((step) => `${step.kind}${stepMarks[step.state]}`).join(' → ');
}

/** A fault as lines name it: its name, followed by its kind and target when the name does not already say them. */
export function faultLabel(fault: { name: string; kind: string; target: string }): string {
  const standard = `${fault.kind} ${fault.target}`;
  return fault.name === standard ? standard : `${fault.name} (${standard})`;
}

/** What became of a fault against what the scenario expected: `recovered ✔`, `unrecovered ✘ (expected recovered)`. */
export function describeOutcome(fault: Pick<ReportFault, 'outcome' | 'expected'>): string {
  return fault.outcome === fault.expected ? `${fault.outcome} ✔` : `${fault.outcome} ✘ (expected ${fault.expected})`;
}
