/**
 * A realistic drill report for the reports' specs and for looking at the pictures: two
 * deployables (`shop` on the simulated OpenStack with three tiers, `blog` on the simulated EC2
 * with two), five lanes, eight faults of mixed kinds — a resource crash, a flapping resource
 * escalated to a reboot, a VM crash, a VM hang needing a hard reboot, an agent partition fenced
 * and recreated, an IP change with a dependent reconfigured and a hook called, an API throttling
 * window (no lanes), and a resource that never restarts, given up on — and the monitor killed once.
 */
import type { DrillReport, ReportFault, ReportStep } from '../drill-report.ts';
import { percentiles } from '../drill-report.ts';

/** The moment every deployable ran; every other time is an offset from it. */
export const fixtureRunningAt = Date.UTC(2026, 11, 2, 5, 0, 0);

const at = (seconds: number): number => fixtureRunningAt + Math.round(seconds * 1_000);

function step(kind: string, from: number, to: number | null, state: ReportStep['state'], assembly: string | null, resource: string | null = null, note: string | null = null): ReportStep {
  return { kind, state, assembly, resource, startedAt: at(from), finishedAt: to === null ? null : at(to), note };
}

type FaultSketch = Pick<ReportFault, 'name' | 'kind' | 'target' | 'lanes' | 'expected' | 'outcome'> & {
  /** Seconds from `runningAt`. */
  injected: number;
  detected?: number;
  detectedBy?: string;
  recovered?: number;
  ended?: number;
} & Partial<Pick<ReportFault, 'timeoutMs' | 'stepTimeMs' | 'steps' | 'notifications' | 'hookCalls' | 'reconfigured'>>;

function fault(index: number, sketch: FaultSketch): ReportFault {
  const { injected, detected, detectedBy, recovered, ended, ...rest } = sketch;
  const injectedAt = at(injected);
  const detectedAt = detected === undefined ? null : at(detected);
  const recoveredAt = recovered === undefined ? null : at(recovered);
  return {
    index,
    timeoutMs: null,
    stepTimeMs: null,
    steps: [],
    notifications: 0,
    hookCalls: 0,
    reconfigured: [],
    ...rest,
    injectedAt,
    endedAt: ended === undefined ? null : at(ended),
    detectedAt,
    detectedBy: detectedBy ?? null,
    recoveredAt,
    detectionMs: detectedAt === null ? null : detectedAt - injectedAt,
    recoveryMs: recoveredAt === null ? null : recoveredAt - injectedAt,
    incidents: detectedAt === null ? [] : [`inc-${String(index + 1).padStart(4, '0')}`],
  };
}

const sketches: FaultSketch[] = [
  {
    name: 'resource-crash shop/db/mysqld', kind: 'resource-crash', target: 'shop/db/mysqld', lanes: ['shop/db'], expected: 'recovered', outcome: 'recovered',
    injected: 2, detected: 2.45, detectedBy: 'resource.failed', recovered: 3.31, notifications: 4,
    steps: [step('restart-resource', 2.46, 3.3, 'succeeded', 'db', 'mysqld')],
  },
  {
    name: 'resource-flap shop/app/php-fpm', kind: 'resource-flap', target: 'shop/app/php-fpm', lanes: ['shop/app'], expected: 'recovered', outcome: 'recovered',
    injected: 4, detected: 4.6, detectedBy: 'resource.failed', recovered: 9.81, notifications: 9,
    steps: [
      step('restart-resource', 4.61, 5.2, 'succeeded', 'app', 'php-fpm'),
      step('restart-resource', 6.1, 6.7, 'failed', 'app', 'php-fpm', 'failed again within its window'),
      step('reboot', 6.71, 9.8, 'succeeded', 'app'),
    ],
  },
  {
    name: 'vm-crash blog/db', kind: 'vm-crash', target: 'blog/db', lanes: ['blog/db'], expected: 'recovered', outcome: 'recovered',
    injected: 7, detected: 7.8, detectedBy: 'assembly.failed', recovered: 10.32, timeoutMs: 3_000, stepTimeMs: 2_500, notifications: 5,
    steps: [step('reboot', 7.81, 10.3, 'succeeded', 'db')],
  },
  {
    name: 'vm-hang shop/web', kind: 'vm-hang', target: 'shop/web', lanes: ['shop/web'], expected: 'recovered', outcome: 'recovered',
    injected: 10, detected: 13.08, detectedBy: 'assembly.unresponsive', recovered: 16.12, timeoutMs: 3_000, stepTimeMs: 3_000, notifications: 5,
    steps: [step('reboot', 13.09, 16.1, 'succeeded', 'web')],
  },
  {
    name: 'agent-partition blog/web', kind: 'agent-partition', target: 'blog/web', lanes: ['blog/web'], expected: 'recovered', outcome: 'recovered',
    injected: 12, detected: 15.05, detectedBy: 'assembly.unresponsive', recovered: 21.52, timeoutMs: 3_000, stepTimeMs: 6_400, notifications: 6,
    steps: [step('recreate', 15.06, 21.5, 'succeeded', 'web', null, 'fenced i-0a1b2c3d (terminated) before the replacement')],
  },
  {
    name: 'api-throttle cloud sim-openstack', kind: 'api-throttle', target: 'cloud sim-openstack', lanes: [], expected: 'withstood', outcome: 'withstood',
    injected: 14, ended: 24,
  },
  {
    name: 'ip-change shop/db', kind: 'ip-change', target: 'shop/db', lanes: ['shop/db'], expected: 'recovered', outcome: 'recovered',
    injected: 20, detected: 20.9, detectedBy: 'assembly.address-changed', recovered: 21.4, notifications: 2, hookCalls: 1, reconfigured: ['shop/app/php-fpm'],
  },
  {
    name: 'nginx stays down', kind: 'resource-no-restart', target: 'blog/web/nginx', lanes: ['blog/web'], expected: 'gave-up', outcome: 'gave-up',
    injected: 26, detected: 26.4, detectedBy: 'resource.failed', notifications: 11,
    steps: [
      step('restart-resource', 26.41, 27.4, 'failed', 'web', 'nginx', 'still failed after the restart'),
      step('restart-resource', 27.41, 28.4, 'failed', 'web', 'nginx', 'still failed after the restart'),
      step('restart-resource', 28.41, 29.4, 'failed', 'web', 'nginx', 'still failed after the restart'),
      step('reboot', 29.41, 32, 'failed', 'web', null, 'nginx still failed after the boot'),
      step('recreate', 32.01, 32.01, 'skipped', 'web', null, 'maxRecoveries (1 within 15m) reached'),
    ],
  },
];

/** The fixture report; a fresh copy on each call, so a spec may change it. */
export function reportFixture(): DrillReport {
  const faults = sketches.map((sketch, index) => fault(index, sketch));
  const vmFaults = faults.filter((each) => each.timeoutMs !== null);
  const known = (values: (number | null)[]): number[] => values.filter((value): value is number => value !== null);
  return {
    scenario: 'default',
    description: 'A three-tier shop on the simulated OpenStack and a two-tier blog on the simulated EC2 through a storm of mixed faults.',
    seed: 'defib',
    startedAt: at(-8.2),
    runningAt: fixtureRunningAt,
    finishedAt: at(36),
    wallMs: 45_700,
    lanes: ['shop/db', 'shop/app', 'shop/web', 'blog/db', 'blog/web'],
    summary: {
      faults: faults.length,
      detected: faults.filter((each) => each.detectedAt !== null).length,
      recovered: faults.filter((each) => each.outcome === 'recovered').length,
      gaveUp: faults.filter((each) => each.outcome === 'gave-up').length,
      duplicateInstances: 0,
      mttdMs: percentiles(known(faults.map((each) => each.detectionMs))),
      mttrMs: percentiles(known(faults.map((each) => each.recoveryMs))),
      detectionVsTimeout: percentiles(vmFaults.map((each) => (each.detectionMs ?? 0) / (each.timeoutMs ?? 1))),
      recoveryVsFloor: percentiles(vmFaults.map((each) => (each.recoveryMs ?? 0) / ((each.timeoutMs ?? 0) + (each.stepTimeMs ?? 0)))),
      notifications: { events: 42, deliveries: 45, duplicates: 3, badSignatures: 0, unacknowledged: 3 },
    },
    faults,
    disruptions: [{ kind: 'kill', target: 'monitor#1', at: at(17), backAt: at(18.6) }],
    checks: [
      { name: 'every fault ended as expected', held: true, detail: '6 recovered, 1 gave up, 1 withstood' },
      { name: 'never two live instances of one assembly', held: true, detail: 'no overlaps in the simulator’s timeline' },
      { name: 'every event delivered exactly once', held: true, detail: '42 events, 45 deliveries; the 3 duplicates answered a delivery the receiver did not acknowledge' },
      { name: 'every signature valid', held: true, detail: '45 of 45' },
      { name: 'MTTD p99 within 1.1× the timeout', held: true, detail: 'p99 1.03×' },
      { name: 'MTTR p99 within 1.2× (timeout + step time)', held: true, detail: 'p99 1.02×' },
    ],
    passed: true,
  };
}
