/**
 * Escalation to recreate, against faults a reboot cannot cure (a partition outlives reboots; a
 * boot failure strikes new VMs): a new VM, the old one fenced first; a recreated VM that fails to
 * boot is recreated again. The incidents API shows every step in order.
 */
import type { ManifestInput } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ladderRungs, runningAssembly, startRecoveryWorld, stepsInOrder, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;

beforeAll(async () => {
  world = await startRecoveryWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

const running = (name: string, assembly: Partial<ManifestInput['assemblies'][number]>, extra: Partial<ManifestInput> = {}) => runningAssembly(world, name, assembly, extra);

describe('escalation', () => {
  it('escalates to recreate when a reboot does not help: a new VM, the old one fenced first', async () => {
    // A partition outlives reboots: only a new VM beats again.
    const { assemblyId } = await running('recreate', { escalation: { maxRecoveries: 5, window: '15m', ladder: ['reboot', 'recreate'] } });
    const [original] = world.instancesOf(assemblyId);
    await world.fault({ kind: 'agent-partition', target: { assembly: assemblyId } });

    const incident = await world.waitForClosedIncident(assemblyId, 45_000);
    expect(incident.outcome).toBe('recovered');
    // OpenStack cannot tell a partition from a hang, so the reboot is tried (EC2's status checks would let it be skipped).
    expect(ladderRungs(incident.steps)).toEqual([expect.stringMatching(/^reboot:(failed|skipped)$/), 'recreate:succeeded']);
    expect(stepsInOrder(incident.steps)).toBe(true);
    const survivors = world.instancesOf(assemblyId);
    expect(survivors).toHaveLength(1);
    expect(survivors[0]?.id).not.toBe(original?.id);
    expect(world.eventsOf('assembly.fenced', (event) => event.subject.assemblyId === assemblyId).map((event) => event.data.instanceId)).toEqual([original?.id]);
    expect(world.overlaps()).toEqual([]);
  }, 60_000);

  it('recreates again when the recreated VM fails to boot, leaving no VM behind', async () => {
    const { assemblyId } = await running('bad-boot', { escalation: { maxRecoveries: 5, window: '15m', ladder: ['recreate'] } });
    const bootFailure = await world.fault({ kind: 'boot-failure', target: { assembly: assemblyId } });
    await world.fault({ kind: 'agent-partition', target: { assembly: assemblyId } });

    await world.waitForEvent('recovery.step-failed', (event) => event.subject.assemblyId === assemblyId && event.data.step === 'recreate', 30_000);
    await world.heal(bootFailure.id);

    const incident = await world.waitForClosedIncident(assemblyId, 45_000);
    expect(incident.outcome).toBe('recovered');
    // The last rung is tried again while the assembly has recoveries left (maxRecoveries 5).
    expect(ladderRungs(incident.steps)).toEqual(['recreate:failed', 'recreate:succeeded']);
    // Three VMs were made (the original, the one that failed to boot, the one that runs); one is left.
    expect(world.simulator.timeline.entries({ assembly: assemblyId, types: ['vm.created'] })).toHaveLength(3);
    expect(world.instancesOf(assemblyId).map((vm) => vm.state.phase)).toEqual(['running']);
    expect(world.overlaps()).toEqual([]);
  }, 60_000);
});
