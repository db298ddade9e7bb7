import { randomUUID } from 'node:crypto';
import { validateManifest, type DomainEvent, type Manifest } from '@defib/contracts';
import { defaultTimings } from '@defib/simulator';
import { describe, expect, it } from 'vitest';
import type { ReceivedAttempt } from './drill-receiver.ts';
import { drillScenarioSchema } from './drill-scenario.ts';
import { buildReport, type DrillObservations } from './report-builder.ts';

const T0 = 1_800_000_000_000;
const deployableId = randomUUID();
const assemblyId = randomUUID();

function parsed(): Manifest {
  const result = validateManifest({ apiVersion: 'defib/v1', kind: 'Deployable', name: 'shop', cloud: 'sim-ec2', assemblies: [{ name: 'db', image: 'fedora-40', flavor: 't3.small', heartbeat: { interval: '1s', missed: 3 } }] });
  if (!result.ok) throw new Error('bad fixture');
  return result.manifest;
}

function timed(type: string, at: number, data: Record<string, unknown> = {}) {
  const event = { id: randomUUID(), type, version: 1, occurredAt: new Date(T0 + at).toISOString(), correlationId: randomUUID(), subject: { deployableId, deployable: 'shop', assemblyId, assembly: 'db' }, data } as unknown as DomainEvent;
  return { event, at: T0 + at, receivedAt: T0 + at + 10, path: 'events' as const };
}

/** A drill of one VM crash, detected at 3 s and recovered by a reboot at 6 s; `change` adjusts what was observed. */
function observations(change: (base: DrillObservations) => Partial<DrillObservations> = () => ({})): DrillObservations {
  const scenario = drillScenarioSchema.parse({
    name: 'unit',
    clouds: [{ name: 'sim-ec2', timings: { reboot: '2s' } }],
    deployables: [{ file: 'shop.yaml' }],
    faults: [{ at: '0s', kind: 'vm-crash', target: { deployable: 'shop', assembly: 'db' } }],
    slo: { mttd: { p99: '4s' }, recoveryWithin: 1.2 },
  });
  const incidentId = randomUUID();
  const events = [timed('assembly.failed', 3_000), timed('incident.opened', 3_010, { incidentId }), timed('assembly.recovered', 6_000), timed('incident.resolved', 6_001, { incidentId, outcome: 'recovered' })];
  const attempts: ReceivedAttempt[] = events.map(({ event, receivedAt }) => ({ path: 'events', webhookId: randomUUID(), receivedAt, signatureValid: true, acknowledged: true, eventIds: [event.id] }));
  const base: DrillObservations = {
    scenario,
    seed: 'unit',
    startedAt: T0 - 20_000,
    runningAt: T0,
    finishedAt: T0 + 10_000,
    deployables: [{ id: deployableId, name: 'shop', parsed: parsed(), assemblies: [{ id: assemblyId, name: 'db', resources: [] }] }],
    faults: [
      {
        index: 0,
        fault: scenario.faults[0] as DrillObservations['faults'][number]['fault'],
        name: 'db crashes',
        target: 'shop/db',
        simulatorId: 'fault-1',
        injectedAt: T0,
        endsAt: null,
        subjects: { deployableIds: new Set([deployableId]), assemblyIds: new Set([assemblyId]) },
        dependents: [],
        judgement: { detectedAt: T0 + 3_000, detectedBy: 'assembly.failed', recoveredAt: T0 + 6_000, gaveUpAt: null, incidentIds: [incidentId], openIncidents: 0 },
      },
    ],
    disruptions: [],
    events,
    attempts,
    deliveries: attempts.map((attempt) => ({ id: attempt.webhookId, status: 'delivered', events: [] })),
    incidents: [
      {
        id: incidentId,
        deployableId,
        assemblyId,
        resourceId: null,
        level: 'assembly',
        status: 'closed',
        outcome: 'recovered',
        openedAt: new Date(T0 + 3_010).toISOString(),
        closedAt: new Date(T0 + 6_001).toISOString(),
        steps: [{ kind: 'reboot', action: 'start', state: 'succeeded', reason: null, error: null, intendedAt: new Date(T0 + 3_100).toISOString(), finishedAt: new Date(T0 + 6_000).toISOString() }],
      },
    ],
    assemblies: [{ assemblyId, assembly: 'db', deployableId, intervals: [], overlaps: [] }],
    timings: { 'sim-ec2': { ...defaultTimings, start: 2_000 } },
    unacknowledged: 0,
  };
  return { ...base, ...change(base) };
}

const failed = (report: ReturnType<typeof buildReport>) => report.checks.filter((check) => !check.held).map((check) => check.name);

describe('the drill report', () => {
  it('passes a drill whose fault was detected and recovered in time, with its figures and steps', () => {
    const report = buildReport(observations());
    expect(failed(report)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.summary).toMatchObject({ faults: 1, detected: 1, recovered: 1, duplicateInstances: 0, mttdMs: { p50: 3_000, p99: 3_000 }, mttrMs: { p99: 6_000 } });
    // Recovery against timeout 3 s + start 2 s + the agent's start 1 s.
    expect(report.summary.recoveryVsFloor.p99).toBeCloseTo(1, 5);
    expect(report.faults[0]).toMatchObject({ outcome: 'recovered', detectionMs: 3_000, recoveryMs: 6_000, timeoutMs: 3_000, stepTimeMs: 3_000, notifications: 4, steps: [{ kind: 'reboot', state: 'succeeded', assembly: 'db' }] });
  });

  it('fails when a fault was not recovered, or two instances of an assembly overlapped', () => {
    const unrecovered = buildReport(observations((base) => ({ faults: base.faults.map((fault) => ({ ...fault, judgement: { ...fault.judgement, recoveredAt: null } })) })));
    expect(failed(unrecovered)).toContain('every fault ended as expected');
    const overlap = { vmIds: ['i-1', 'i-2'] as const, start: { simTimeMs: 1, wallClock: new Date(T0).toISOString() }, end: null };
    const twoCopies = buildReport(observations((base) => ({ assemblies: base.assemblies.map((assembly) => ({ ...assembly, overlaps: [overlap] })) })));
    expect(failed(twoCopies)).toEqual(['never two live instances of one assembly']);
    expect(twoCopies.summary.duplicateInstances).toBe(1);
  });

  it('fails on a delivery acknowledged twice, unless the notifier holding it was killed right after the answer', () => {
    const twice = (base: DrillObservations) => {
      const [first] = base.attempts;
      return { attempts: [...base.attempts, { ...(first as ReceivedAttempt), receivedAt: (first as ReceivedAttempt).receivedAt + 8_000 }] };
    };
    expect(failed(buildReport(observations(twice)))).toEqual(['every event delivered exactly once (by webhook-id)']);
    const killed = buildReport(
      observations((base) => ({ ...twice(base), disruptions: [{ kind: 'kill', target: 'notifier#1', at: (base.attempts[0] as ReceivedAttempt).receivedAt + 300, backAt: (base.attempts[0] as ReceivedAttempt).receivedAt + 2_000 }] })),
    );
    expect(failed(killed)).toEqual([]);
    const retried = buildReport(observations((base) => ({ attempts: [{ ...(base.attempts[0] as ReceivedAttempt), acknowledged: false }, ...base.attempts] })));
    expect(failed(retried)).toEqual([]);
  });

  it('fails on a bad signature, a delivery left undone, a missing incident event, or a missed SLO', () => {
    const forged = buildReport(observations((base) => ({ attempts: [...base.attempts, { ...(base.attempts[0] as ReceivedAttempt), webhookId: 'forged', signatureValid: false, acknowledged: false }] })));
    expect(failed(forged)).toEqual(['every signature valid']);
    const undone = buildReport(observations((base) => ({ deliveries: [...base.deliveries, { id: randomUUID(), status: 'pending', events: [] }] })));
    expect(failed(undone)).toEqual(['no notification lost']);
    const missing = buildReport(observations((base) => ({ events: base.events.filter(({ event }) => event.type !== 'incident.resolved') })));
    expect(failed(missing)).toEqual(['no notification lost']);
    const slow = buildReport(observations((base) => ({ faults: base.faults.map((fault) => ({ ...fault, judgement: { ...fault.judgement, detectedAt: T0 + 5_000 } })) })));
    expect(failed(slow)).toEqual(['MTTD p99 ≤ 4.00 s']);
  });
});
