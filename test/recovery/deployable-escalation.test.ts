/**
 * The top of the ladder, against a partition no reboot cures: once an assembly used up its
 * recoveries the whole deployable is restarted (stopped and started in dependency order); beyond
 * the deployable's maxFailures recovery gives up and says what it tried.
 */
import type { ManifestInput } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ladderRungs, runningAssembly, startRecoveryWorld, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;

beforeAll(async () => {
  world = await startRecoveryWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

const running = (name: string, assembly: Partial<ManifestInput['assemblies'][number]>, extra: Partial<ManifestInput> = {}) => runningAssembly(world, name, assembly, extra);

describe('deployable escalation', () => {
  it('restarts the whole deployable once the assembly used up its recoveries', async () => {
    const { deployable, assemblyId } = await running('restart-all', { escalation: { maxRecoveries: 1, window: '15m', ladder: ['reboot'] } });
    const [original] = world.instancesOf(assemblyId);
    await world.fault({ kind: 'agent-partition', target: { assembly: assemblyId } });

    await world.waitForEvent('recovery.escalated', (event) => event.subject.deployableId === deployable.id && event.data.to === 'restart-deployable', 40_000);
    const incident = await world.waitForClosedIncident(assemblyId, 45_000);
    expect(incident.outcome).toBe('recovered');
    expect(ladderRungs(incident.steps)).toEqual([expect.stringMatching(/^reboot:(failed|skipped)$/), 'restart-deployable:succeeded']);
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
    const steps = ladderRungs(incident.steps);
    expect(steps).toEqual([expect.stringMatching(/^reboot:(failed|skipped)$/)]);
    expect(gaveUp.data.stepsTried).toEqual(steps[0] === 'reboot:failed' ? ['reboot'] : []);
    await world.waitForState(deployable.name, 'failed', 10_000);
  }, 60_000);
});
