/**
 * A deployable's life as recovery drives it: started through the registry, launched in dependsOn
 * waves (a dependent's VM is created only once its dependency's agent answered), a `ref` resolved
 * into the dependent's agent configuration, a roll-out that replaces only what changed (fenced
 * first), and a stop that terminates in reverse order with the cloud confirming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemblyOf, manifestOf, startRecoveryWorld, type AppliedDeployable, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;
let shop: AppliedDeployable;

const tiers = (webFlavor: string) =>
  manifestOf('shop', [
    assemblyOf('db'),
    assemblyOf('app', {
      dependsOn: ['db'],
      resources: [{ name: 'svc', monitor: { interval: '500ms', timeout: '250ms' }, params: { DB_HOST: { ref: 'db', field: 'address' }, MODE: 'live' } }],
    }),
    assemblyOf('web', { dependsOn: ['app'], flavor: webFlavor }),
  ]);

const idOf = (assembly: string): string => shop.assemblyIds[assembly] ?? '';

/** Sequence number of the simulator's first timeline entry about `assemblyId` that matches. */
function firstSeq(assemblyId: string, matches: (entry: { type: string; to?: { phase: string } }) => boolean): number {
  const entry = world.simulator.timeline.entries({ assembly: assemblyId }).find((candidate) => matches(candidate as { type: string; to?: { phase: string } }));
  if (entry === undefined) throw new Error(`no matching timeline entry for ${assemblyId}`);
  return entry.seq;
}

beforeAll(async () => {
  world = await startRecoveryWorld();
  shop = await world.apply(tiers('m1.small'));
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('deployable lifecycle', () => {
  it('launches the tiers in dependsOn waves, each after its dependency came up, and goes starting → running', async () => {
    await world.start('shop');
    await world.waitForState('shop', 'running', 30_000);

    const states = world.eventsOf('deployable.state-changed', (event) => event.subject.deployable === 'shop').map((event) => event.data.to);
    expect(states[0]).toBe('starting');
    expect(states.at(-1)).toBe('running');
    for (const assembly of ['db', 'app', 'web']) {
      expect(world.eventsOf('assembly.launched', (event) => event.subject.assemblyId === idOf(assembly))).toHaveLength(1);
      expect(world.instancesOf(idOf(assembly))).toHaveLength(1);
    }
    // The simulator's ground truth: app's VM was created only after db's ran, web's only after app's.
    const runningAt = (assembly: string) => firstSeq(idOf(assembly), (entry) => entry.type === 'vm.transition' && entry.to?.phase === 'running');
    const createdAt = (assembly: string) => firstSeq(idOf(assembly), (entry) => entry.type === 'vm.created');
    expect(createdAt('app')).toBeGreaterThan(runningAt('db'));
    expect(createdAt('web')).toBeGreaterThan(runningAt('app'));
  }, 45_000);

  it("resolves a ref to the dependency's address in the dependent's agent configuration", () => {
    const [db] = world.instancesOf(idOf('db'));
    const [app] = world.instancesOf(idOf('app'));
    if (db === undefined || app === undefined) throw new Error('db and app must run');
    const dbAddress = db.addresses.find((address) => address.kind === 'fixed')?.address;
    const svc = world.agentConfig(app).resources.find((resource) => resource.name === 'svc');
    expect(svc?.params).toEqual({ DB_HOST: dbAddress, MODE: 'live' });
  });

  it('rolls out a changed manifest by replacing only the changed assembly, fenced before its replacement', async () => {
    const before = Object.fromEntries(['db', 'app', 'web'].map((assembly) => [assembly, world.instancesOf(idOf(assembly)).map((vm) => vm.id)]));
    const changed = await world.apply(tiers('m1.medium'));
    expect(changed.version).toBe(shop.version + 1);
    await world.start('shop');

    const replacement = await world.waitForEvent('assembly.launched', (event) => event.subject.assemblyId === idOf('web') && event.data.previousInstanceId !== undefined, 30_000);
    const fenced = world.eventsOf('assembly.fenced', (event) => event.subject.assemblyId === idOf('web'));
    expect(fenced.map((event) => event.data.instanceId)).toEqual(before.web);
    expect(world.events.findIndex((event) => event.id === fenced[0]?.id)).toBeLessThan(world.events.indexOf(replacement));
    await world.waitForEvent('assembly.running', (event) => event.data.instanceId === replacement.data.instanceId, 20_000);

    expect(world.instancesOf(idOf('web')).map((vm) => [vm.id, vm.flavorId])).toEqual([[replacement.data.instanceId, '3']]);
    // Untouched: the same VMs, launched once.
    for (const assembly of ['db', 'app']) {
      expect(world.instancesOf(idOf(assembly)).map((vm) => vm.id)).toEqual(before[assembly]);
      expect(world.eventsOf('assembly.launched', (event) => event.subject.assemblyId === idOf(assembly))).toHaveLength(1);
      expect(world.eventsOf('assembly.fenced', (event) => event.subject.assemblyId === idOf(assembly))).toHaveLength(0);
    }
    await world.waitForState('shop', 'running', 20_000);
    expect(world.overlaps()).toEqual([]);
  }, 60_000);

  it('stops the assemblies in reverse dependency order, each confirmed terminated by the cloud', async () => {
    await world.stop('shop');
    await world.waitForState('shop', 'stopped', 30_000);

    const stopped = world.eventsOf('assembly.stopped', (event) => event.subject.deployable === 'shop').map((event) => event.subject.assemblyId);
    expect(stopped).toEqual([idOf('web'), idOf('app'), idOf('db')]);
    for (const assembly of ['db', 'app', 'web']) expect(world.instancesOf(idOf(assembly))).toEqual([]);
    expect(world.overlaps()).toEqual([]);
  }, 45_000);
});
