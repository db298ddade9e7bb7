/**
 * Address changes: when a dependency's VM comes back with a new address, every resource whose
 * parameters reference it is reconfigured through its agent with the new value
 * (`resource.reconfigured`), and the agent runs with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemblyOf, manifestOf, startRecoveryWorld, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;

beforeAll(async () => {
  world = await startRecoveryWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('address changes', () => {
  it("reconfigures a dependent's resource with its dependency's new address", async () => {
    const applied = await world.run(
      manifestOf('linked', [
        assemblyOf('db'),
        assemblyOf('app', { dependsOn: ['db'], resources: [{ name: 'svc', monitor: { interval: '500ms', timeout: '250ms' }, params: { DB_HOST: { ref: 'db', field: 'address' }, MODE: 'live' } }] }),
      ]),
    );
    const dbId = applied.assemblyIds.db ?? '';
    const appId = applied.assemblyIds.app ?? '';
    const fixedAddressOfDb = () => world.instancesOf(dbId)[0]?.addresses.find((address) => address.kind === 'fixed')?.address;
    const before = fixedAddressOfDb();
    expect(world.agentOf(appId)?.resources[0]?.params).toEqual({ DB_HOST: before, MODE: 'live' });

    await world.fault({ kind: 'ip-change', target: { assembly: dbId }, fixed: true });
    const after = fixedAddressOfDb();
    expect(after).not.toBe(before);

    const reconfigured = await world.waitForEvent('resource.reconfigured', (event) => event.subject.resourceId === applied.resourceIds['app/svc'], 20_000);
    expect(reconfigured.data.parameters).toEqual([{ name: 'DB_HOST', ref: 'db', field: 'address', value: after }]);
    expect(world.agentOf(appId)?.resources[0]?.params).toEqual({ DB_HOST: after, MODE: 'live' });
    // No VM was touched for it.
    expect(world.eventsOf('assembly.launched', (event) => event.subject.deployableId === applied.id)).toHaveLength(2);
  }, 60_000);
});
