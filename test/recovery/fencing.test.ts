/**
 * Fencing: a VM whose agent is cut off but which still runs is the dangerous case — replacing it
 * without stopping it first leaves two copies. Recovery must fence the old VM (the cloud
 * confirming it stopped or gone) before it creates the replacement; the simulator's timeline is
 * the judge that two instances of the assembly never ran at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningAssembly, startRecoveryWorld, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;

beforeAll(async () => {
  world = await startRecoveryWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('fencing', () => {
  it('fences a partitioned but healthy VM before launching its replacement, and the two never run at once', async () => {
    const { assemblyId } = await runningAssembly(world, 'fenced');
    const [original] = world.instancesOf(assemblyId);
    if (original === undefined) throw new Error('the assembly must run');
    await world.fault({ kind: 'agent-partition', target: { assembly: assemblyId } });

    const replacement = await world.waitForEvent('assembly.launched', (event) => event.subject.assemblyId === assemblyId && event.data.previousInstanceId === original.id, 45_000);
    const fenced = world.eventsOf('assembly.fenced', (event) => event.subject.assemblyId === assemblyId);
    expect(fenced.map((event) => event.data.instanceId)).toEqual([original.id]);
    expect(['cloud-status', 'cloud-gone']).toContain(fenced[0]?.data.confirmedBy);
    expect(world.events.findIndex((event) => event.id === fenced[0]?.id)).toBeLessThan(world.events.indexOf(replacement));

    const incident = await world.waitForClosedIncident(assemblyId, 30_000);
    expect(incident.outcome).toBe('recovered');
    expect(incident.steps.filter((step) => step.kind === 'recreate').at(-1)?.state).toBe('succeeded');

    // The ground truth: the old instance stopped running before the new one began, and only the new one is left.
    const [history] = world.timeline(assemblyId);
    const intervals = history?.intervals ?? [];
    const old = intervals.find((interval) => interval.vmId === original.id);
    const fresh = intervals.find((interval) => interval.vmId === replacement.data.instanceId);
    expect(old?.end).not.toBeNull();
    expect(fresh?.start.simTimeMs).toBeGreaterThanOrEqual(old?.end?.simTimeMs ?? Number.POSITIVE_INFINITY);
    expect(history?.overlaps).toEqual([]);
    expect(world.instancesOf(assemblyId).map((vm) => vm.id)).toEqual([replacement.data.instanceId]);
  }, 60_000);
});
