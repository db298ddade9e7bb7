/**
 * Escalation beyond the first rungs, against faults a reboot cannot cure (a partition outlives
 * reboots; a boot failure strikes new VMs): recreate, fenced first, retried when the new VM fails
 * to boot; a restart of the whole deployable once the assembly used up its recoveries; giving up
 * beyond the deployable's maxFailures. The incidents API shows every step in order.
 */
import type { ManifestInput } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rungs, runningAssembly, startRecoveryWorld, stepsInOrder, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;

beforeAll(async () => {
  world = await startRecoveryWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

const running = (name: string, assembly: Partial<ManifestInput['assemblies'][number]>, extra: Partial<ManifestInput> = {}) => runningAssembly(world, name, assembly, extra);

describe('escalation', () => {
  it('escalates to recreate when a reboot does not help, and retries a recreate whose new VM fails to boot', async () => {
    // A partition outlives reboots: only a new VM beats again.
    const { assemblyId } = await running('recreate', { escalation: { maxRecoveries: 5, window: '15m', ladder: ['reboot', 'recreate'] } });
    const [original] = world.instancesOf(assemblyId);
    const bootFailure = await world.fault({ kind: 'boot-failure', target: { assembly: assemblyId } });
    await world.fault({ kind: 'agent-partition', target: { assembly: assemblyId } });

    const firstRecreate = await world.waitForEvent('recovery.step-failed', (event) => event.subject.assemblyId === assemblyId && event.data.step === 'recreate', 45_000);
    expect(firstRecreate.data.attempt).toBe(1);
    await world.heal(bootFailure.id);

    const incident = await world.waitForClosedIncident(assemblyId, 45_000);
    expect(incident.outcome).toBe('recovered');
    const kinds = incident.steps.filter((step) => step.kind !== 'fence').map((step) => `${step.kind}:${step.state}`);
    // OpenStack cannot tell a partition from a hang, so the reboot is tried (EC2's status checks would let it be skipped).
    expect(kinds[0]).toMatch(/^reboot:(failed|skipped)$/);
    expect(kinds.at(-1)).toBe('recreate:succeeded');
    expect(kinds).toContain('recreate:failed');
    expect(stepsInOrder(incident.steps)).toBe(true);
    // One VM in the end, not the original, not the one that failed to boot; never two at once.
    const survivors = world.instancesOf(assemblyId);
    expect(survivors).toHaveLength(1);
    expect(survivors[0]?.id).not.toBe(original?.id);
    expect(world.overlaps()).toEqual([]);
  }, 120_000);

  it('restarts the whole deployable once the assembly used up its recoveries', async () => {
    const { deployable, assemblyId } = await running('restart-all', { escalation: { maxRecoveries: 1, window: '15m', ladder: ['reboot'] } });
    const [original] = world.instancesOf(assemblyId);
    await world.fault({ kind: 'agent-partition', target: { assembly: assemblyId } });

    await world.waitForEvent('recovery.escalated', (event) => event.subject.deployableId === deployable.id && event.data.to === 'restart-deployable', 40_000);
    const incident = await world.waitForClosedIncident(assemblyId, 45_000);
    expect(incident.outcome).toBe('recovered');
    expect(rungs(incident.steps).filter((rung) => rung.startsWith('reboot') || rung.startsWith('restart-deployable'))).toEqual([expect.stringMatching(/^reboot:(failed|skipped)$/), 'restart-deployable:succeeded']);
    const [replacement] = world.instancesOf(assemblyId);
    expect(replacement?.id).not.toBe(original?.id);
    await world.waitForState(deployable.name, 'running', 20_000);
    expect(world.overlaps()).toEqual([]);
  }, 90_000);

  it('gives up beyond the deployable’s maxFailures, saying what it tried', async () => {
    const { deployable, assemblyId } = await running('give-up', { escalation: { maxRecoveries: 1, window: '15m', ladder: ['reboot'] } }, { escalation: { maxFailures: 0, window: '30m' } });
    await world.fault({ kind: 'agent-partition', target: { assembly: assemblyId } });

    const gaveUp = await world.waitForEvent('recovery.gave-up', (event) => event.subject.deployableId === deployable.id, 40_000);
    const incident = await world.waitForClosedIncident(assemblyId, 10_000);
    expect(incident.outcome).toBe('gave-up');
    const steps = rungs(incident.steps);
    expect(steps).toEqual([expect.stringMatching(/^reboot:(failed|skipped)$/)]);
    expect(gaveUp.data.stepsTried).toEqual(steps[0] === 'reboot:failed' ? ['reboot'] : []);
    await world.waitForState(deployable.name, 'failed', 10_000);
  }, 60_000);
});
