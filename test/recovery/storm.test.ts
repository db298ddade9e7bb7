/**
 * Storm control: a host carrying 50 VMs fails at once. Recovery, limited to 5 concurrent actions
 * on the cloud, recovers every VM (a new one on a healthy host, the old one fenced first) without
 * ever exceeding the limit — by its own count and by the simulator's count of VMs building at
 * once — and without a duplicate instance.
 */
import type { TimelineEntry } from '@defib/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { assemblyOf, manifestOf, startRecoveryWorld, type RecoveryWorld } from './recovery-world.ts';

const CLOUD = 'sim-openstack';
const LIMIT = 5;
const DEPLOYABLES = 5;
const ASSEMBLIES_PER_DEPLOYABLE = 10;

let world: RecoveryWorld;
const assemblyIds: string[] = [];

/** The most VMs building at once among those created at or after `sinceSeq`. */
function peakBuilding(entries: readonly TimelineEntry[], sinceSeq: number): number {
  let building = 0;
  let peak = 0;
  const counted = new Set<string>();
  for (const entry of entries) {
    if (entry.seq < sinceSeq) continue;
    if (entry.type === 'vm.created') {
      counted.add(entry.vmId);
      peak = Math.max(peak, ++building);
    } else if (entry.type === 'vm.transition' && counted.has(entry.vmId) && entry.from.phase === 'building' && entry.to.phase !== 'building') {
      counted.delete(entry.vmId);
      building--;
    }
  }
  return peak;
}

beforeAll(async () => {
  world = await startRecoveryWorld();
  // Every VM on compute-1: the other hosts are down while the deployables start.
  const elsewhere = [await world.fault({ kind: 'host-failure', target: { cloud: CLOUD, host: 'compute-2' } }), await world.fault({ kind: 'host-failure', target: { cloud: CLOUD, host: 'compute-3' } })];
  const names = Array.from({ length: DEPLOYABLES }, (_, index) => `storm-${index}`);
  for (const name of names) {
    const assemblies = Array.from({ length: ASSEMBLIES_PER_DEPLOYABLE }, (_, index) => assemblyOf(`n${index}`, { resources: [], escalation: { maxRecoveries: 3, window: '15m', ladder: ['recreate'] } }));
    const applied = await world.apply(manifestOf(name, assemblies));
    assemblyIds.push(...Object.values(applied.assemblyIds));
    await world.start(name);
  }
  for (const name of names) await world.waitForState(name, 'running', 45_000);
  for (const fault of elsewhere) await world.heal(fault.id);
  // The storm runs under a tighter limit: a fresh replica takes over with it.
  for (const launcher of [...world.recoveries]) await world.stopRecovery(launcher);
  await world.startRecovery({ cloudActions: { default: LIMIT, byCloud: {} } });
}, 90_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('recovery storm', () => {
  it(`recovers a ${DEPLOYABLES * ASSEMBLIES_PER_DEPLOYABLE}-VM host failure within ${LIMIT} concurrent actions, without a duplicate`, async () => {
    const onHost = world.simulator.clouds.get(CLOUD)?.vmsOnHost('compute-1') ?? [];
    expect(onHost).toHaveLength(DEPLOYABLES * ASSEMBLIES_PER_DEPLOYABLE);
    const sinceSeq = (world.simulator.timeline.entries().at(-1)?.seq ?? 0) + 1;
    await world.fault({ kind: 'host-failure', target: { cloud: CLOUD, host: 'compute-1' } });

    const recovered = await waitFor(
      () => {
        const ids = new Set(world.eventsOf('assembly.recovered').map((event) => event.subject.assemblyId));
        return assemblyIds.every((id) => ids.has(id)) ? ids : undefined;
      },
      { timeoutMs: 50_000, intervalMs: 200, what: 'every assembly to be recovered' },
    );
    expect(recovered.size).toBe(assemblyIds.length);

    const [replica] = world.recoveries;
    const peak = replica?.slots.snapshot()[CLOUD]?.peak ?? 0;
    expect(peak).toBeLessThanOrEqual(LIMIT);
    expect(peak).toBeGreaterThan(1);
    expect(peakBuilding(world.simulator.timeline.entries(), sinceSeq)).toBeLessThanOrEqual(LIMIT);
    for (const assemblyId of assemblyIds) {
      const live = world.instancesOf(assemblyId).filter((vm) => vm.state.phase === 'running');
      expect(live, assemblyId).toHaveLength(1);
      expect(live[0]?.host).not.toBe('compute-1');
    }
    expect(world.overlaps()).toEqual([]);
  }, 60_000);
});
