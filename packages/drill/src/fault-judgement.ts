/**
 * What became of one injected fault, judged from the events Defib announced (as the drill's webhook
 * receiver got them): when it was detected, when it was recovered, or whether recovery gave up.
 * Pure: the runner calls it while the drill runs (for progress) and once more at the end.
 *
 * - Detected: the first event about a struck subject after the injection that says something is
 *   wrong with it (`assembly.unresponsive`, `assembly.failed`, `resource.failed`, and for an
 *   ip-change `assembly.address-changed`).
 * - Recovered: a recovery marker about the subject (`assembly.recovered`, `incident.resolved`
 *   with outcome `recovered`) after the *last* detection, with no incident about it left open — a
 *   flapping resource is recovered when it stops failing, not at its first restart. An ip-change is
 *   recovered when every resource referencing the assembly was reconfigured and the hook called.
 * - Gave up: `recovery.gave-up` about the subject's deployable after the injection.
 */
import type { DomainEvent } from '@defib/contracts';

/** The subjects a fault struck, by registry id. */
export interface StruckSubjects {
  deployableIds: ReadonlySet<string>;
  assemblyIds: ReadonlySet<string>;
  /** Set for resource faults. */
  resourceId?: string;
}

export interface FaultJudgement {
  detectedAt: number | null;
  detectedBy: string | null;
  recoveredAt: number | null;
  gaveUpAt: number | null;
  /** Incidents about the subjects opened after the injection. */
  incidentIds: string[];
  openIncidents: number;
  /** For an ip-change: the address change, the resources reconfigured because of it, the hook calls. */
  addressChange?: { eventId: string; reconfigured: string[]; hookCalls: number };
}

/** A received event with when it happened (its `occurredAt`). */
export interface TimedEvent {
  event: DomainEvent;
  /** Its `occurredAt`. */
  at: number;
  /** When the drill's receiver got it. */
  receivedAt: number;
  path: 'events' | 'hook';
}

export interface JudgeInput {
  kind: string;
  subjects: StruckSubjects;
  injectedAt: number;
  /** Events about these subjects from this moment on belong to a later fault. */
  until: number;
  /** Every event received so far, in any order. */
  events: readonly TimedEvent[];
  /** For an ip-change: the resource ids whose parameters reference the changed assembly. */
  dependents?: readonly string[];
}

/** Allowance for the services' clocks: the same machine, but their timestamps are taken in other processes. */
const CLOCK_SLACK_MS = 50;

const DETECTIONS = new Set(['assembly.unresponsive', 'assembly.failed', 'resource.failed']);

function subjectOf(event: DomainEvent): { deployableId?: string; assemblyId?: string; resourceId?: string } {
  return event.subject as { deployableId?: string; assemblyId?: string; resourceId?: string };
}

function concerns(event: DomainEvent, subjects: StruckSubjects, level: 'assembly' | 'resource-or-assembly'): boolean {
  const subject = subjectOf(event);
  if (subject.assemblyId === undefined || !subjects.assemblyIds.has(subject.assemblyId)) return false;
  if (subjects.resourceId === undefined || level === 'assembly') return true;
  return subject.resourceId === undefined || subject.resourceId === subjects.resourceId;
}

export function judgeFault(input: JudgeInput): FaultJudgement {
  const inWindow = input.events.filter((timed) => timed.at >= input.injectedAt - CLOCK_SLACK_MS && timed.at < input.until).sort((a, b) => a.at - b.at);
  const fromEvents = inWindow.filter((timed) => timed.path === 'events');
  const judgement: FaultJudgement = { detectedAt: null, detectedBy: null, recoveredAt: null, gaveUpAt: null, incidentIds: [], openIncidents: 0 };

  const open = new Set<string>();
  for (const { event } of fromEvents) {
    if (event.type === 'incident.opened' && concerns(event, input.subjects, 'resource-or-assembly')) {
      const id = (event.data as { incidentId: string }).incidentId;
      judgement.incidentIds.push(id);
      open.add(id);
    }
    if (event.type === 'incident.resolved') open.delete((event.data as { incidentId: string }).incidentId);
  }
  judgement.openIncidents = open.size;

  const gaveUp = fromEvents.find(({ event }) => event.type === 'recovery.gave-up' && input.subjects.deployableIds.has(subjectOf(event).deployableId ?? ''));
  judgement.gaveUpAt = gaveUp?.at ?? null;

  if (input.kind === 'ip-change') return judgeAddressChange(input, inWindow, judgement);

  const detections = fromEvents.filter(({ event }) => DETECTIONS.has(event.type) && concerns(event, input.subjects, 'resource-or-assembly'));
  const first = detections[0];
  if (first === undefined) return judgement;
  judgement.detectedAt = first.at;
  judgement.detectedBy = first.event.type;
  const last = detections.at(-1) ?? first;
  const recovery = fromEvents.find(
    ({ event, at }) =>
      at >= last.at &&
      ((event.type === 'assembly.recovered' && concerns(event, input.subjects, 'assembly')) ||
        (event.type === 'incident.resolved' && (event.data as { outcome: string }).outcome === 'recovered' && concerns(event, input.subjects, 'resource-or-assembly'))),
  );
  // Every struck assembly must be back: a host failure is recovered when its last VM is.
  if (recovery !== undefined && open.size === 0) {
    const recoveredAt = [...input.subjects.assemblyIds].map((assemblyId) => {
      const mine = detections.filter(({ event }) => subjectOf(event).assemblyId === assemblyId).at(-1);
      if (mine === undefined) return first.at;
      return fromEvents.find(({ event, at }) => at >= mine.at && subjectOf(event).assemblyId === assemblyId && (event.type === 'assembly.recovered' || (event.type === 'incident.resolved' && (event.data as { outcome: string }).outcome === 'recovered')))?.at ?? null;
    });
    if (recoveredAt.every((at) => at !== null)) judgement.recoveredAt = Math.max(...recoveredAt);
  }
  return judgement;
}

function judgeAddressChange(input: JudgeInput, inWindow: readonly TimedEvent[], judgement: FaultJudgement): FaultJudgement {
  const change = inWindow.find(({ event, path }) => path === 'events' && event.type === 'assembly.address-changed' && concerns(event, input.subjects, 'assembly'));
  if (change === undefined) return judgement;
  judgement.detectedAt = change.at;
  judgement.detectedBy = change.event.type;
  const reconfigurations = inWindow.filter(({ event, path }) => path === 'events' && event.type === 'resource.reconfigured' && (event.data as { causeEventId?: string }).causeEventId === change.event.id);
  const hookCalls = inWindow.filter(({ event, path }) => path === 'hook' && event.id === change.event.id);
  const reconfigured = [...new Set(reconfigurations.map(({ event }) => subjectOf(event).resourceId ?? ''))];
  judgement.addressChange = { eventId: change.event.id, reconfigured, hookCalls: hookCalls.length };
  const dependents = input.dependents ?? [];
  if (dependents.every((id) => reconfigured.includes(id)) && hookCalls.length > 0) {
    const times = [change.at, ...reconfigurations.filter(({ event }) => dependents.includes(subjectOf(event).resourceId ?? '')).map(({ at }) => at), ...hookCalls.map(({ receivedAt }) => receivedAt)];
    judgement.recoveredAt = Math.max(...times);
  }
  return judgement;
}
