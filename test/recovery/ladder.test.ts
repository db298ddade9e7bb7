/**
 * The first rungs of the ladder against the simulator's faults, with the real monitor detecting
 * them: a crashed resource restarted, one that will not start escalated to a reboot, a crashed
 * and a hung VM brought back. The incidents API shows every step in the order it was taken.
 */
import type { ManifestInput } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningAssembly, rungs, startRecoveryWorld, stepsInOrder, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;

beforeAll(async () => {
  world = await startRecoveryWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

const running = (name: string, assembly: Partial<ManifestInput['assemblies'][number]> = {}) => runningAssembly(world, name, assembly);

describe('escalation ladder', () => {
  it('restarts a crashed resource through its agent and resolves the incident', async () => {
    const { assemblyId, resourceId } = await running('res-crash');
    await world.fault({ kind: 'resource-crash', target: { assembly: assemblyId }, resource: 'svc' });

    const incident = await world.waitForClosedIncident(resourceId);
    expect(incident).toMatchObject({ level: 'resource', outcome: 'recovered', trigger: 'resource.failed' });
    expect(rungs(incident.steps)).toEqual(['restart-resource:succeeded']);
    expect(world.eventsOf('resource.restarted', (event) => event.subject.resourceId === resourceId)).toHaveLength(1);
    expect(world.eventsOf('incident.resolved', (event) => event.data.incidentId === incident.id)).toHaveLength(1);
    expect(world.agentOf(assemblyId)?.resources).toEqual([{ name: 'svc', state: 'running' }]);
  }, 40_000);

  it('reboots the VM once restarts of a resource that will not start go beyond maxRestarts', async () => {
    const { assemblyId, resourceId } = await running('res-stuck', { resources: [{ name: 'svc', monitor: { interval: '500ms', timeout: '250ms' }, escalation: { maxRestarts: 1, window: '5m' } }] });
    const stuck = await world.fault({ kind: 'resource-no-restart', target: { assembly: assemblyId }, resource: 'svc' });
    await world.waitForEvent('recovery.escalated', (event) => event.subject.resourceId === resourceId || event.subject.assemblyId === assemblyId, 30_000);
    await world.heal(stuck.id);

    const escalated = world.eventsOf('recovery.escalated', (event) => event.subject.assemblyId === assemblyId);
    expect(escalated[0]?.data).toMatchObject({ from: 'restart-resource', to: 'reboot' });
    const incident = await world.waitForClosedIncident(resourceId, 30_000);
    expect(incident.outcome).toBe('recovered');
    expect(rungs(incident.steps)).toEqual(['restart-resource:failed', 'reboot:succeeded']);
    expect(stepsInOrder(incident.steps)).toBe(true);
  }, 60_000);

  it('brings a crashed VM back by starting it (a stopped VM is not soft-rebooted)', async () => {
    const { assemblyId } = await running('vm-crash');
    await world.fault({ kind: 'vm-crash', target: { assembly: assemblyId } });

    const incident = await world.waitForClosedIncident(assemblyId);
    expect(incident).toMatchObject({ level: 'assembly', outcome: 'recovered' });
    const acted = incident.steps.filter((step) => step.state === 'succeeded');
    expect(acted.map((step) => step.action)).toEqual([expect.stringMatching(/^(start|reboot-hard)$/)]);
    expect(incident.steps.some((step) => step.action === 'reboot-soft' && step.state !== 'skipped')).toBe(false);
    expect(world.eventsOf('assembly.recovered', (event) => event.subject.assemblyId === assemblyId)).toHaveLength(1);
    expect(world.instancesOf(assemblyId)).toHaveLength(1);
  }, 40_000);

  it('brings a hung VM back', async () => {
    const { assemblyId } = await running('vm-hang');
    const bootBefore = world.agentOf(assemblyId)?.bootId;
    await world.fault({ kind: 'vm-hang', target: { assembly: assemblyId } });

    const incident = await world.waitForClosedIncident(assemblyId, 40_000);
    expect(incident.outcome).toBe('recovered');
    expect(incident.steps.at(-1)?.state).toBe('succeeded');
    expect(stepsInOrder(incident.steps)).toBe(true);
    const agent = world.agentOf(assemblyId);
    expect(agent?.hung).toBe(false);
    expect(agent?.bootId).not.toBe(bootBefore);
    expect(world.overlaps()).toEqual([]);
  }, 60_000);
});
