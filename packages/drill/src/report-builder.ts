/**
 * Turns what a drill observed into its report: per fault its times, the ladder steps recovery took,
 * its notifications; the percentiles; and the checks that decide the exit code — every fault ended
 * as the scenario expects, never two live instances of one assembly, every event delivered to the
 * receiver exactly once by `webhook-id` with a valid signature, nothing recovery recorded missing
 * from what the receiver got, and the scenario's SLOs. Pure.
 */
import type { DomainEvent, Manifest } from '@defib/contracts';
import type { AssemblyHistory, LifecycleTimings } from '@defib/simulator';
import type { ReceivedAttempt } from './drill-receiver.ts';
import { percentiles, type DrillReport, type ReportCheck, type ReportDisruption, type ReportFault, type ReportStep } from './drill-report.ts';
import { expectationOf, type DrillFault, type DrillScenario } from './drill-scenario.ts';
import type { FaultJudgement, StruckSubjects, TimedEvent } from './fault-judgement.ts';

/** A fault as the runner injected it. */
export interface InjectedFault {
  index: number;
  fault: DrillFault;
  name: string;
  target: string;
  simulatorId: string;
  injectedAt: number;
  /** When a fault with a duration is due to end. */
  endsAt: number | null;
  /** When the simulator healed it. */
  endedAt?: number | null;
  subjects: StruckSubjects;
  dependents: string[];
  judgement?: FaultJudgement;
}

/** An incident as `GET /v1/incidents/{id}` shows it. */
export interface CollectedIncident {
  id: string;
  deployableId: string;
  assemblyId: string | null;
  resourceId: string | null;
  level: string;
  status: string;
  outcome: string | null;
  openedAt: string;
  closedAt: string | null;
  steps: { kind: string; action: string; state: ReportStep['state']; reason: string | null; error: string | null; intendedAt: string; finishedAt: string | null }[];
}

export interface DrillObservations {
  scenario: DrillScenario;
  seed: string;
  startedAt: number;
  runningAt: number;
  finishedAt: number;
  deployables: { id: string; name: string; parsed: Manifest; assemblies: { id: string; name: string; resources: { id: string; name: string }[] }[] }[];
  faults: (InjectedFault & { judgement: FaultJudgement })[];
  disruptions: ReportDisruption[];
  events: readonly TimedEvent[];
  attempts: readonly ReceivedAttempt[];
  deliveries: readonly { id: string; status: string; events: { id: string; type: string }[] }[];
  incidents: readonly CollectedIncident[];
  assemblies: readonly AssemblyHistory[];
  /** Each cloud's simulated timings. */
  timings: Record<string, LifecycleTimings>;
  unacknowledged: number;
}

const VM_FAULTS = new Set(['vm-crash', 'vm-hang', 'agent-partition', 'host-failure']);
/** The simulated agent's start after its VM boots (the simulator's default). */
const AGENT_START_MS = 1_000;

/**
 * The simulated time of the steps recovery took for a VM fault: each cloud operation it ran (a
 * failed one too: a replacement that did not boot was built before it failed), and the agent's
 * start after the one that brought the VM back.
 */
function stepTimeOf(steps: readonly CollectedIncident['steps'][number][], timings: LifecycleTimings | undefined): number | null {
  if (timings === undefined) return null;
  const taken = steps.filter((step) => step.state === 'succeeded' || step.state === 'failed');
  if (!taken.some((step) => step.state === 'succeeded')) return null;
  // A reboot rung's action is what the VM's condition allowed: a start, a hard or a soft reboot.
  const cloudTime = (step: CollectedIncident['steps'][number]): number => {
    if (step.kind === 'recreate') return timings.delete + timings.build;
    if (step.kind !== 'reboot' && step.kind !== 'hard-reboot') return 0;
    if (step.action === 'start') return timings.start;
    return step.action === 'reboot-hard' ? timings.hardReboot : timings.reboot;
  };
  return taken.reduce((sum, step) => sum + cloudTime(step), 0) + AGENT_START_MS;
}

function laneOf(deployables: DrillObservations['deployables'], assemblyId: string): string | undefined {
  for (const deployable of deployables) {
    const assembly = deployable.assemblies.find((candidate) => candidate.id === assemblyId);
    if (assembly !== undefined) return `${deployable.name}/${assembly.name}`;
  }
  return undefined;
}

function namesOf(deployables: DrillObservations['deployables'], assemblyId: string | null, resourceId: string | null): { assembly: string | null; resource: string | null } {
  for (const deployable of deployables) {
    const assembly = deployable.assemblies.find((candidate) => candidate.id === assemblyId);
    if (assembly !== undefined) return { assembly: assembly.name, resource: assembly.resources.find((candidate) => candidate.id === resourceId)?.name ?? null };
  }
  return { assembly: null, resource: null };
}

function timeoutOf(deployables: DrillObservations['deployables'], assemblyIds: ReadonlySet<string>): number | null {
  const timeouts = deployables.flatMap((deployable) =>
    deployable.assemblies
      .filter((assembly) => assemblyIds.has(assembly.id))
      .map((assembly) => deployable.parsed.assemblies.find((candidate) => candidate.name === assembly.name)?.heartbeat)
      .filter((heartbeat) => heartbeat !== undefined)
      .map((heartbeat) => heartbeat.intervalMs * heartbeat.missed),
  );
  return timeouts.length === 0 ? null : Math.max(...timeouts);
}

function reportFault(observations: DrillObservations, entry: DrillObservations['faults'][number]): ReportFault {
  const expected = expectationOf(entry.fault);
  // A withstood fault (a boot or cloud API fault) has nothing of its own to detect or recover: what
  // it causes belongs to the faults it coincides with.
  const judgement = expected === 'withstood' ? { ...entry.judgement, detectedAt: null, detectedBy: null, recoveredAt: null, incidentIds: [] } : entry.judgement;
  const incidents = observations.incidents.filter((incident) => judgement.incidentIds.includes(incident.id));
  const steps: ReportStep[] = incidents
    .flatMap((incident) =>
      incident.steps.map((step) => ({
        kind: step.kind,
        state: step.state,
        ...namesOf(observations.deployables, incident.assemblyId, incident.resourceId),
        startedAt: Date.parse(step.intendedAt),
        finishedAt: step.finishedAt === null ? null : Date.parse(step.finishedAt),
        note: step.error ?? (step.state === 'skipped' ? step.reason : null),
      })),
    )
    .sort((a, b) => a.startedAt - b.startedAt);
  const outcome: ReportFault['outcome'] = expected === 'withstood' ? 'withstood' : judgement.gaveUpAt !== null ? 'gave-up' : judgement.recoveredAt !== null ? 'recovered' : 'unrecovered';
  const isVmFault = VM_FAULTS.has(entry.fault.kind);
  const cloud = observations.deployables.find((deployable) => entry.subjects.deployableIds.has(deployable.id))?.parsed.cloud;
  const until = judgement.recoveredAt ?? observations.finishedAt;
  const delivered = new Set<string>();
  // Events about its subjects until it recovered, and every event of its incidents (their closing included).
  const ofIncidents = (event: DomainEvent) => judgement.incidentIds.includes(event.correlationId) || judgement.incidentIds.includes((event.data as { incidentId?: string }).incidentId ?? '');
  const related = new Set(observations.events.filter(({ event, at }) => (at >= entry.injectedAt && at <= until && isAbout(event.subject, entry.subjects)) || ofIncidents(event)).map(({ event }) => event.id));
  for (const attempt of observations.attempts) if (attempt.path === 'events' && attempt.acknowledged && attempt.eventIds.some((id) => related.has(id))) delivered.add(attempt.webhookId);
  return {
    index: entry.index,
    name: entry.name,
    kind: entry.fault.kind,
    target: entry.target,
    lanes: [...entry.subjects.assemblyIds].map((id) => laneOf(observations.deployables, id)).filter((lane): lane is string => lane !== undefined),
    expected,
    outcome,
    injectedAt: entry.injectedAt,
    endedAt: entry.endedAt ?? null,
    detectedAt: judgement.detectedAt,
    detectedBy: judgement.detectedBy,
    recoveredAt: judgement.recoveredAt,
    detectionMs: judgement.detectedAt === null ? null : judgement.detectedAt - entry.injectedAt,
    recoveryMs: judgement.recoveredAt === null ? null : judgement.recoveredAt - entry.injectedAt,
    timeoutMs: isVmFault ? timeoutOf(observations.deployables, entry.subjects.assemblyIds) : null,
    stepTimeMs: isVmFault ? stepTimeOf(incidents.flatMap((incident) => incident.steps), cloud === undefined ? undefined : observations.timings[cloud]) : null,
    steps,
    incidents: judgement.incidentIds,
    notifications: delivered.size,
    hookCalls: judgement.addressChange?.hookCalls ?? 0,
    reconfigured: (judgement.addressChange?.reconfigured ?? []).map((id) => {
      for (const deployable of observations.deployables) for (const assembly of deployable.assemblies) for (const resource of assembly.resources) if (resource.id === id) return `${deployable.name}/${assembly.name}/${resource.name}`;
      return id;
    }),
  };
}

function isAbout(subject: unknown, subjects: StruckSubjects): boolean {
  const { assemblyId, deployableId } = subject as { assemblyId?: string; deployableId?: string };
  return (assemblyId !== undefined && subjects.assemblyIds.has(assemblyId)) || (assemblyId === undefined && deployableId !== undefined && subjects.deployableIds.has(deployableId));
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** How long after a receiver's answer a notifier records it: a kill within this loses the record. */
const RECORD_WINDOW_MS = 2_000;
/** The drill notes a kill just after sending SIGKILL; the process may have died a moment before. */
const KILL_SLACK_MS = 100;

/** The notification checks: exactly once by `webhook-id`, valid signatures, no delivery left undone, nothing recovery recorded missing. */
function notificationChecks(observations: DrillObservations): { checks: ReportCheck[]; figures: DrillReport['summary']['notifications'] } {
  const attempts = observations.attempts.filter((attempt) => attempt.path === 'events');
  const byWebhook = new Map<string, ReceivedAttempt[]>();
  for (const attempt of attempts) byWebhook.set(attempt.webhookId, [...(byWebhook.get(attempt.webhookId) ?? []), attempt]);
  // A delivery acknowledged twice is a duplicate; one retried after the receiver refused it is not,
  // nor one whose sender was SIGKILLed right after the receiver's answer, before it could record it
  // (no sender can tell that apart from an answer that never came; receivers de-duplicate by webhook-id).
  const notifierKills = observations.disruptions.filter((disruption) => disruption.kind === 'kill' && disruption.target.includes('notifier')).map((disruption) => disruption.at);
  const acknowledgedTwice = [...byWebhook.entries()].map(([id, tries]) => ({ id, acknowledged: tries.filter((attempt) => attempt.acknowledged) })).filter(({ acknowledged }) => acknowledged.length > 1);
  const lostWithKill = (acknowledged: readonly ReceivedAttempt[]) => {
    const [first, second] = acknowledged;
    return first !== undefined && second !== undefined && notifierKills.some((at) => at >= first.receivedAt - KILL_SLACK_MS && at <= first.receivedAt + RECORD_WINDOW_MS && at <= second.receivedAt);
  };
  const excused = acknowledgedTwice.filter(({ acknowledged }) => lostWithKill(acknowledged)).map(({ id }) => id);
  const duplicated = acknowledgedTwice.filter(({ acknowledged }) => !lostWithKill(acknowledged)).map(({ id }) => id);
  const deliveriesOfEvent = new Map<string, Set<string>>();
  for (const attempt of attempts.filter((candidate) => candidate.acknowledged)) for (const id of attempt.eventIds) deliveriesOfEvent.set(id, new Set([...(deliveriesOfEvent.get(id) ?? []), attempt.webhookId]));
  const eventsTwice = [...deliveriesOfEvent.entries()].filter(([, ids]) => ids.size > 1).map(([id]) => id);
  const badSignatures = observations.attempts.filter((attempt) => !attempt.signatureValid).length;
  const received = new Set(observations.attempts.filter((attempt) => attempt.acknowledged).map((attempt) => attempt.webhookId));
  const undone = observations.deliveries.filter((delivery) => delivery.status !== 'delivered' || !received.has(delivery.id));
  const seen = new Set(observations.events.filter((timed) => timed.path === 'events').map((timed) => timed.event.id));
  const seenIncidentEvents = new Set(observations.events.filter((timed) => timed.path === 'events' && timed.event.type.startsWith('incident.')).map((timed) => `${timed.event.type}:${(timed.event.data as { incidentId?: string }).incidentId ?? ''}`));
  const missing = observations.incidents.flatMap((incident) => [
    ...(seenIncidentEvents.has(`incident.opened:${incident.id}`) ? [] : [`incident.opened of ${incident.id}`]),
    ...(incident.status === 'closed' && !seenIncidentEvents.has(`incident.resolved:${incident.id}`) ? [`incident.resolved of ${incident.id}`] : []),
  ]);
  const delivered = observations.deliveries.filter((delivery) => delivery.status === 'delivered').length;
  return {
    figures: { events: seen.size, deliveries: delivered, duplicates: duplicated.length + eventsTwice.length, badSignatures, unacknowledged: attempts.filter((attempt) => !attempt.acknowledged).length },
    checks: [
      {
        name: 'every event delivered exactly once (by webhook-id)',
        held: duplicated.length === 0 && eventsTwice.length === 0,
        detail:
          duplicated.length + eventsTwice.length === 0
            ? `${seen.size} events in ${byWebhook.size} deliveries; retries only after an unacknowledged attempt${excused.length === 0 ? '' : `, or (${excused.length}) after the notifier holding it was killed before it could record the receiver's answer`}`
            : `acknowledged twice: ${[...duplicated, ...eventsTwice].slice(0, 5).join(', ')}`,
      },
      { name: 'every signature valid', held: badSignatures === 0, detail: badSignatures === 0 ? `${observations.attempts.length} requests verified` : `${badSignatures} requests failed verification` },
      {
        name: 'no notification lost',
        held: undone.length === 0 && missing.length === 0,
        detail:
          undone.length === 0 && missing.length === 0
            ? `all ${observations.deliveries.length} deliveries acknowledged; every incident's opened/resolved events arrived`
            : [...undone.slice(0, 3).map((delivery) => `delivery ${delivery.id} ${delivery.status}`), ...missing.slice(0, 3).map((what) => `missing ${what}`)].join('; '),
      },
    ],
  };
}

function sloChecks(scenario: DrillScenario, mttd: number[], mttr: number[], detectionRatios: number[], recoveryRatios: number[]): ReportCheck[] {
  const checks: ReportCheck[] = [];
  const against = (name: string, values: number[], limits: { p50?: number | undefined; p99?: number | undefined } | undefined) => {
    const figures = percentiles(values);
    for (const key of ['p50', 'p99'] as const) {
      const limit = limits?.[key];
      if (limit === undefined) continue;
      const value = figures[key];
      checks.push({ name: `${name} ${key} ≤ ${seconds(limit)}`, held: value !== null && value <= limit, detail: value === null ? 'no fault measured' : seconds(value) });
    }
  };
  against('MTTD', mttd, scenario.slo.mttd);
  against('MTTR', mttr, scenario.slo.mttr);
  const ratio = (name: string, values: number[], limit: number | undefined) => {
    if (limit === undefined) return;
    const p99 = percentiles(values).p99;
    checks.push({ name, held: p99 === null || p99 <= limit, detail: p99 === null ? 'no VM fault measured' : `p99 ${p99.toFixed(2)}× (limit ${limit}×)` });
  };
  ratio(`VM faults detected within ${scenario.slo.detectionWithin}× their timeout`, detectionRatios, scenario.slo.detectionWithin);
  ratio(`VM faults recovered within ${scenario.slo.recoveryWithin}× (timeout + boot)`, recoveryRatios, scenario.slo.recoveryWithin);
  return checks;
}

export function buildReport(observations: DrillObservations): DrillReport {
  const faults = observations.faults.map((entry) => reportFault(observations, entry)).sort((a, b) => a.injectedAt - b.injectedAt);
  const judged = faults.filter((fault) => fault.expected !== 'withstood');
  const mttd = judged.map((fault) => fault.detectionMs).filter((ms): ms is number => ms !== null);
  const mttr = judged.filter((fault) => fault.outcome === 'recovered').map((fault) => fault.recoveryMs).filter((ms): ms is number => ms !== null);
  const detectionRatios = faults.flatMap((fault) => (fault.detectionMs !== null && fault.timeoutMs !== null ? [fault.detectionMs / fault.timeoutMs] : []));
  const recoveryRatios = faults.flatMap((fault) => (fault.outcome === 'recovered' && fault.recoveryMs !== null && fault.timeoutMs !== null && fault.stepTimeMs !== null ? [fault.recoveryMs / (fault.timeoutMs + fault.stepTimeMs)] : []));
  const overlaps = observations.assemblies.flatMap((assembly) => assembly.overlaps.map((overlap) => ({ assembly: laneOf(observations.deployables, assembly.assemblyId) ?? assembly.assemblyId, overlap })));
  const notifications = notificationChecks(observations);
  const wrong = faults.filter((fault) => fault.outcome !== fault.expected);
  const missingSteps = faults.flatMap((fault) => {
    const wanted = observations.faults.find((entry) => entry.index === fault.index)?.fault.steps ?? [];
    const taken = new Set(fault.steps.map((step) => step.kind));
    return wanted.filter((kind) => !taken.has(kind)).map((kind) => `${fault.name}: no ${kind}`);
  });
  const checks: ReportCheck[] = [
    {
      name: 'every fault ended as expected',
      held: wrong.length === 0 && faults.length === observations.scenario.faults.length,
      detail:
        wrong.length === 0
          ? `${judged.filter((fault) => fault.outcome === 'recovered').length} recovered, ${judged.filter((fault) => fault.outcome === 'gave-up').length} gave up, ${faults.length - judged.length} withstood`
          : wrong.map((fault) => `${fault.name}: ${fault.outcome}, expected ${fault.expected}`).join('; '),
    },
    ...(missingSteps.length === 0 ? [] : [{ name: 'the expected ladder steps were taken', held: false, detail: missingSteps.join('; ') }]),
    {
      name: 'never two live instances of one assembly',
      held: overlaps.length === 0,
      detail: overlaps.length === 0 ? `${observations.assemblies.length} assemblies on the simulator's timeline, no overlap` : overlaps.map(({ assembly, overlap }) => `${assembly}: ${overlap.vmIds.join(' & ')}`).join('; '),
    },
    ...notifications.checks,
    ...sloChecks(observations.scenario, mttd, mttr, detectionRatios, recoveryRatios),
    ...observations.disruptions
      .filter((disruption) => disruption.kind === 'kill')
      .map((disruption) => ({ name: `${disruption.target} came back after being killed`, held: disruption.backAt !== null, detail: disruption.backAt === null ? 'not started again' : `started again after ${seconds(disruption.backAt - disruption.at)}` })),
  ];
  const lanes = observations.deployables.flatMap((deployable) => deployable.parsed.assemblies.map((assembly) => `${deployable.name}/${assembly.name}`));
  return {
    scenario: observations.scenario.name,
    description: observations.scenario.description ?? null,
    seed: observations.seed,
    startedAt: observations.startedAt,
    runningAt: observations.runningAt,
    finishedAt: observations.finishedAt,
    wallMs: observations.finishedAt - observations.startedAt,
    lanes,
    summary: {
      faults: faults.length,
      detected: judged.filter((fault) => fault.detectedAt !== null).length,
      recovered: judged.filter((fault) => fault.outcome === 'recovered').length,
      gaveUp: judged.filter((fault) => fault.outcome === 'gave-up').length,
      duplicateInstances: overlaps.length,
      mttdMs: percentiles(mttd),
      mttrMs: percentiles(mttr),
      detectionVsTimeout: percentiles(detectionRatios),
      recoveryVsFloor: percentiles(recoveryRatios),
      notifications: notifications.figures,
    },
    faults,
    disruptions: observations.disruptions,
    checks,
    passed: checks.every((check) => check.held),
  };
}
