/**
 * Maintenance mode: while a deployable is in maintenance (the registry's
 * `PUT /v1/deployables/{name}/maintenance`), a failure is recorded — an incident is opened — but
 * recovery takes no step; leaving maintenance makes recovery look again and recover it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { runningAssembly, startRecoveryWorld, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;

beforeAll(async () => {
  world = await startRecoveryWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('maintenance', () => {
  it('records a failure during maintenance without acting, and recovers it once maintenance ends', async () => {
    const { deployable, assemblyId } = await runningAssembly(world, 'upkeep');
    await world.registry.json('PUT', '/v1/deployables/upkeep/maintenance', 201, { body: { reason: 'kernel upgrade' } });
    await world.waitForEvent('deployable.maintenance-entered', (event) => event.subject.deployableId === deployable.id, 10_000);

    await world.fault({ kind: 'vm-crash', target: { assembly: assemblyId } });
    const opened = await world.waitForEvent('incident.opened', (event) => event.subject.assemblyId === assemblyId, 20_000);
    // Absence can only be watched for a while: a recovery step would start within a verify interval
    // of the incident opening; two seconds is many of them.
    const quietUntil = Date.now() + 2_000;
    await waitFor(
      async () => {
        const incident = await world.incident(opened.data.incidentId);
        expect(incident.steps).toEqual([]);
        expect(incident.status).toBe('open');
        return Date.now() > quietUntil ? true : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 250, what: 'two seconds without a recovery step' },
    );
    expect(world.eventsOf('recovery.started', (event) => event.data.incidentId === opened.data.incidentId)).toEqual([]);
    expect(world.instancesOf(assemblyId).map((vm) => vm.state.phase)).toEqual(['stopped']);

    const response = await world.registry.request('DELETE', '/v1/deployables/upkeep/maintenance');
    expect(response.status).toBeLessThan(300);
    const incident = await world.waitForClosedIncident(assemblyId, 30_000);
    expect(incident.id).toBe(opened.data.incidentId);
    expect(incident.outcome).toBe('recovered');
    expect(incident.steps.filter((step) => step.state === 'succeeded')).toHaveLength(1);
    expect(world.instancesOf(assemblyId).map((vm) => vm.state.phase)).toEqual(['running']);
  }, 60_000);
});
