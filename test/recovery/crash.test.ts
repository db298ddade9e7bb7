/**
 * Crash safety and replicas: recovery runs as processes here. One killed with SIGKILL in the
 * middle of a recreate (the old VM fenced, the replacement's launch intended or under way) is
 * restarted and finishes the incident from its journal — one replacement VM, never two copies at
 * once. Two replicas side by side split the work: every incident gets one set of steps, every
 * assembly one VM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningAssembly, startRecoveryWorld, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;

beforeAll(async () => {
  world = await startRecoveryWorld({ recoveries: 0 });
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

/** The VMs the cloud ever created for an assembly (the simulator's timeline). */
const vmsCreatedFor = (assemblyId: string): string[] =>
  world.simulator.timeline.entries({ assembly: assemblyId, types: ['vm.created'] }).map((entry) => (entry as { vmId: string }).vmId);

describe('recovery killed and replicated', () => {
  it('resumes a recreate after a SIGKILL in its middle: one replacement, no overlap', async () => {
    const replica = await world.startRecoveryProcess({ RECOVERY_REPLICA_ID: 'replica-a' });
    const { assemblyId } = await runningAssembly(world, 'crashy', { escalation: { maxRecoveries: 3, window: '15m', ladder: ['recreate'] } });
    const [original] = world.instancesOf(assemblyId);
    await world.fault({ kind: 'agent-partition', target: { assembly: assemblyId } });

    await world.waitForEvent('assembly.fenced', (event) => event.subject.assemblyId === assemblyId, 30_000);
    await replica.kill('SIGKILL');
    await world.startRecoveryProcess({ RECOVERY_REPLICA_ID: 'replica-a' });

    const incident = await world.waitForClosedIncident(assemblyId, 40_000);
    expect(incident.outcome).toBe('recovered');
    const recreates = incident.steps.filter((step) => step.kind === 'recreate');
    expect(recreates.map((step) => step.state)).toEqual(['succeeded']);
    expect(vmsCreatedFor(assemblyId)).toHaveLength(2);
    const survivors = world.instancesOf(assemblyId);
    expect(survivors).toHaveLength(1);
    expect(survivors[0]?.id).not.toBe(original?.id);
    expect(world.overlaps()).toEqual([]);
  }, 60_000);

  it('two replicas side by side take one set of steps per incident and launch no duplicate VM', async () => {
    await world.startRecoveryProcess({ RECOVERY_REPLICA_ID: 'replica-b' });
    const assemblies: string[] = [];
    for (let index = 0; index < 4; index++) assemblies.push((await runningAssembly(world, `pair-${index}`)).assemblyId);
    for (const assemblyId of assemblies) await world.fault({ kind: 'vm-crash', target: { assembly: assemblyId } });

    for (const assemblyId of assemblies) {
      const incident = await world.waitForClosedIncident(assemblyId, 30_000);
      expect(incident.outcome).toBe('recovered');
      const taken = incident.steps.filter((step) => step.state !== 'skipped').map((step) => `${step.kind}#${step.attempt}`);
      expect(new Set(taken).size).toBe(taken.length);
      const started = world.eventsOf('recovery.started', (event) => event.data.incidentId === incident.id).map((event) => `${event.data.step}#${event.data.attempt ?? 1}`);
      expect(new Set(started).size).toBe(started.length);
      expect(vmsCreatedFor(assemblyId)).toHaveLength(1);
      expect(world.instancesOf(assemblyId)).toHaveLength(1);
    }
    expect(world.overlaps()).toEqual([]);
  }, 60_000);
});
