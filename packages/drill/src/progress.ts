/**
 * What the drill shows while it runs: one line per event (a phase, a fault injected, detected,
 * recovered or given up, a disruption), and on a terminal one status line kept at the bottom and
 * redrawn in place — `[#####-----] 5/10 recovered · 2 in flight · 12.3 s`. When the output is not
 * a terminal (a log, CI) it writes the same lines and nothing else: no control codes, one line a call.
 */
import type { ReportStep } from './drill-report.ts';
import { describeSteps, faultLabel, formatMs } from './report-format.ts';

/** A fault as progress names it. */
export interface ProgressFault {
  /** Index in the scenario's `faults` (shown 1-based). */
  index: number;
  name: string;
  kind: string;
  /** `shop/db`, `cloud sim-ec2`, … */
  target: string;
}

export interface ProgressOptions {
  /** Where the text goes (`process.stdout.write`); each call gets whole lines, or a status-line redraw. */
  write: (text: string) => void;
  /** Whether `write` reaches a terminal: only then is a status line drawn. */
  terminal: boolean;
  totalFaults: number;
  /** The terminal's width: the status line is cut to it, since a wrapped line cannot be redrawn in place. */
  columns?: number;
  /** The clock of the status line's elapsed time; `Date.now` by default. */
  now?: () => number;
  /** How often a terminal's status line is redrawn to keep its clock going; 0 redraws only on events. */
  redrawEveryMs?: number;
}

/** What the runner tells progress, in the order things happen. */
export interface DrillProgress {
  /** A stage of the drill: `starting processes`, `deployables running in 8.2 s`. */
  phase(text: string): void;
  injected(fault: ProgressFault): void;
  detected(fault: ProgressFault, ms: number, by: string): void;
  recovered(fault: ProgressFault, ms: number, steps: readonly Pick<ReportStep, 'kind' | 'state'>[]): void;
  gaveUp(fault: ProgressFault, ms: number): void;
  /** A cloud-API fault's window closed, with nothing to recover: it settles like a recovery. */
  withstood(fault: ProgressFault, ms: number): void;
  /** A disruption of Defib itself: `kill monitor#1`. */
  disruption(text: string): void;
  /** The drill stopped waiting: a closing line, and the status line is gone. */
  done(): void;
}

type FaultState = 'in flight' | 'recovered' | 'gave up' | 'withstood';

/** Erases the cursor's line and returns to its start (carriage return, then CSI 2K). */
const clearLine = '\r\x1b[2K';
const barWidth = 20;

/** Text from a scenario or a service, without anything a terminal would take as a command. */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, ' ');
}

function elapsed(ms: number): string {
  return ms < 60_000 ? `${(ms / 1_000).toFixed(1)} s` : formatMs(ms);
}

export function createProgress(options: ProgressOptions): DrillProgress {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const states = new Map<number, FaultState>();
  let currentPhase = '';
  let finished = false;

  const count = (state: FaultState): number => [...states.values()].filter((each) => each === state).length;

  function statusLine(): string {
    const recovered = count('recovered');
    const gaveUp = count('gave up');
    const withstood = count('withstood');
    const settled = recovered + gaveUp + withstood;
    const filled = options.totalFaults === 0 ? barWidth : Math.round((settled / options.totalFaults) * barWidth);
    const parts = [`[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${recovered}/${options.totalFaults} recovered`];
    if (gaveUp > 0) parts.push(`${gaveUp} gave up`);
    if (withstood > 0) parts.push(`${withstood} withstood`);
    parts.push(`${count('in flight')} in flight`, elapsed(now() - startedAt));
    if (currentPhase !== '') parts.push(currentPhase);
    const line = parts.join(' · ');
    const room = options.columns === undefined ? line.length : Math.max(10, options.columns - 1);
    return line.length <= room ? line : `${line.slice(0, room - 1)}…`;
  }

  function emit(line: string): void {
    const text = printable(line);
    if (!options.terminal) options.write(`${text}\n`);
    else options.write(`${clearLine}${text}\n${finished ? '' : statusLine()}`);
  }

  const redraw = (): void => {
    if (!finished) options.write(`${clearLine}${statusLine()}`);
  };
  const redrawEveryMs = options.redrawEveryMs ?? 500;
  const timer = options.terminal && redrawEveryMs > 0 ? setInterval(redraw, redrawEveryMs) : undefined;
  timer?.unref();

  const faultLine = (fault: ProgressFault, text: string): string => `fault ${fault.index + 1}/${options.totalFaults} ${faultLabel(fault)}: ${text}`;
  const settle = (fault: ProgressFault, state: FaultState, text: string): void => {
    states.set(fault.index, state);
    emit(faultLine(fault, text));
  };

  return {
    phase(text) {
      currentPhase = printable(text);
      emit(text);
    },
    injected(fault) {
      settle(fault, 'in flight', 'injected');
    },
    detected(fault, ms, by) {
      if (!states.has(fault.index)) states.set(fault.index, 'in flight');
      emit(faultLine(fault, `detected in ${formatMs(ms)} (${by})`));
    },
    recovered(fault, ms, steps) {
      settle(fault, 'recovered', `recovered in ${formatMs(ms)}${steps.length === 0 ? '' : ` (${describeSteps(steps)})`}`);
    },
    gaveUp(fault, ms) {
      settle(fault, 'gave up', `gave up after ${formatMs(ms)}`);
    },
    withstood(fault, ms) {
      settle(fault, 'withstood', `withstood, ended after ${formatMs(ms)}`);
    },
    disruption(text) {
      emit(`disruption: ${text}`);
    },
    done() {
      if (finished) return;
      clearInterval(timer);
      const unfinished = options.totalFaults - count('recovered') - count('gave up') - count('withstood');
      const tally = [`${count('recovered')} recovered`, `${count('gave up')} gave up`, `${count('withstood')} withstood`, ...(unfinished > 0 ? [`${unfinished} unfinished`] : [])];
      finished = true;
      emit(`done: ${tally.join(', ')} of ${options.totalFaults} faults in ${elapsed(now() - startedAt)}`);
    },
  };
}
