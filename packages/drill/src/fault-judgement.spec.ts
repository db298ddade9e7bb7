import { randomUUID } from 'node:crypto';
import type { DomainEvent } from '@defib/contracts';
import { describe, expect, it } from 'vitest';
import { judgeFault, type StruckSubjects, type TimedEvent } from './fault-judgement.ts';

const deployableId = randomUUID();
const assemblyId = randomUUID();
const otherAssemblyId = randomUUID();
const resourceId = randomUUID();
const subjects: StruckSubjects = { deployableIds: new Set([deployableId]), assemblyIds: new Set([assemblyId]) };
const T0 = 1_000_000;

/** An event about the struck assembly (or `subject`), `at` ms after the injection. */
function event(type: string, at: number, data: Record<string, unknown> = {}, subject: Record<string, unknown> = { assemblyId }, path: TimedEvent['path'] = 'events'): TimedEvent {
  const domainEvent = { id: randomUUID(), type, version: 1, occurredAt: new Date(T0 + at).toISOString(), correlationId: randomUUID(), subject: { deployableId, deployable: 'shop', ...subject }, data } as unknown as DomainEvent;
  return { event: domainEvent, at: T0 + at, receivedAt: T0 + at + 5, path };
}

const judge = (events: TimedEvent[], extra: Partial<Parameters<typeof judgeFault>[0]> = {}) => judgeFault({ kind: 'vm-crash', subjects, injectedAt: T0, until: T0 + 600_000, events, ...extra });

describe('judging a fault from the events Defib announced', () => {
  it('is detected by the first failure event about its assembly and recovered by the assembly.recovered after it', () => {
    const incidentId = randomUUID();
    const judgement = judge([
      event('assembly.unresponsive', 3_000),
      event('incident.opened', 3_010, { incidentId }),
      event('assembly.failed', 3_500),
      event('assembly.recovered', 8_000),
      event('incident.resolved', 8_001, { incidentId, outcome: 'recovered' }),
    ]);
    expect(judgement).toMatchObject({ detectedAt: T0 + 3_000, detectedBy: 'assembly.unresponsive', recoveredAt: T0 + 8_000, gaveUpAt: null, incidentIds: [incidentId], openIncidents: 0 });
  });

  it('ignores events before the injection, about other assemblies, and after the next fault on the same assembly', () => {
    const judgement = judge([event('assembly.failed', -5_000), event('assembly.failed', 1_000, {}, { assemblyId: otherAssemblyId }), event('assembly.failed', 20_000)], { until: T0 + 10_000 });
    expect(judgement).toMatchObject({ detectedAt: null, recoveredAt: null });
  });

  it('is not recovered while an incident about it is open, nor by a recovery before its last failure (a flapping resource)', () => {
    const first = randomUUID();
    const second = randomUUID();
    const resource = { assemblyId, resourceId };
    const flapping = { subjects: { ...subjects, resourceId }, kind: 'resource-flap' };
    const events = [
      event('resource.failed', 500, {}, resource),
      event('incident.opened', 510, { incidentId: first }, resource),
      event('incident.resolved', 2_500, { incidentId: first, outcome: 'recovered' }, resource),
      event('resource.failed', 3_500, {}, resource),
      event('incident.opened', 3_510, { incidentId: second }, resource),
    ];
    expect(judge(events, flapping)).toMatchObject({ detectedAt: T0 + 500, recoveredAt: null, openIncidents: 1 });
    expect(judge([...events, event('incident.resolved', 9_000, { incidentId: second, outcome: 'recovered' }, { assemblyId })], flapping)).toMatchObject({ recoveredAt: T0 + 9_000, openIncidents: 0 });
  });

  it('needs every struck assembly back before a host failure counts as recovered', () => {
    const both = { ...subjects, assemblyIds: new Set([assemblyId, otherAssemblyId]) };
    const events = [event('assembly.failed', 500), event('assembly.failed', 600, {}, { assemblyId: otherAssemblyId }), event('assembly.recovered', 4_000)];
    expect(judge(events, { subjects: both, kind: 'host-failure' }).recoveredAt).toBeNull();
    expect(judge([...events, event('assembly.recovered', 7_000, {}, { assemblyId: otherAssemblyId })], { subjects: both, kind: 'host-failure' }).recoveredAt).toBe(T0 + 7_000);
  });

  it('records that recovery gave up on the deployable', () => {
    expect(judge([event('assembly.failed', 500), event('recovery.gave-up', 30_000, { incidentId: randomUUID(), stepsTried: ['recreate'] }, {})])).toMatchObject({ detectedAt: T0 + 500, gaveUpAt: T0 + 30_000, recoveredAt: null });
  });

  it('counts an address change recovered once every dependent was reconfigured because of it and the hook was called', () => {
    const change = event('assembly.address-changed', 300);
    const dependent = randomUUID();
    const reconfigured = event('resource.reconfigured', 1_200, { causeEventId: change.event.id }, { assemblyId: otherAssemblyId, resourceId: dependent });
    const hookCall: TimedEvent = { ...change, path: 'hook', receivedAt: T0 + 1_500 };
    const ipChange = { kind: 'ip-change', dependents: [dependent] };
    expect(judge([change, reconfigured], ipChange)).toMatchObject({ detectedAt: T0 + 300, recoveredAt: null, addressChange: { reconfigured: [dependent], hookCalls: 0 } });
    expect(judge([change, reconfigured, hookCall], ipChange)).toMatchObject({ recoveredAt: T0 + 1_500, addressChange: { hookCalls: 1 } });
  });
});
