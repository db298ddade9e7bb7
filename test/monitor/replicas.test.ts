/**
 * Two monitor processes side by side split the deployables by shard lease; every one of them
 * sees every heartbeat. Killing the one that speaks for some deployables with SIGKILL leaves the
 * other to give their verdicts within about one lease (3 s here), and no event is given twice.
 */
import type { DomainEvent, ManifestInput } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, waitFor, type ServiceProcess } from '../support/index.ts';
import { ADMIN_TOKEN, startMonitorWorld, type LaunchedAssembly, type MonitorWorld } from './monitor-world.ts';

const LEASE_MS = 3_000;
const CRASH_BOUND_MS = 4_000;

let world: MonitorWorld;
let replicas: Record<'a' | 'b', ServiceProcess>;
const assemblies: LaunchedAssembly[] = [];

function manifest(name: string): ManifestInput {
  return {
    apiVersion: 'defib/v1',
    kind: 'Deployable',
    name,
    cloud: 'sim-openstack',
    assemblies: [{ name: 'db', image: 'fedora-40', flavor: 'm1.small', heartbeat: { interval: '1s', missed: 3 } }],
  };
}

const api = (replica: ServiceProcess) => apiClient(() => replica.url, ADMIN_TOKEN);

async function watcherOf(assembly: LaunchedAssembly, via: ServiceProcess): Promise<string | undefined> {
  const response = await api(via).request('GET', `/v1/assemblies/${assembly.assemblyId}/liveness`);
  if (response.status !== 200) return undefined;
  const body = (await response.json()) as { watchedBy: string | null; state: string };
  return body.state === 'alive' && body.watchedBy !== null ? body.watchedBy : undefined;
}

function countBy(events: readonly DomainEvent[], type: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const event of events) {
    if (event.type !== type || !('assemblyId' in event.subject) || event.subject.assemblyId === undefined) continue;
    counts.set(event.subject.assemblyId, (counts.get(event.subject.assemblyId) ?? 0) + 1);
  }
  return counts;
}

beforeAll(async () => {
  world = await startMonitorWorld({ inProcessMonitor: false });
  replicas = {
    a: await world.startMonitorProcess({ MONITOR_REPLICA_ID: 'replica-a' }),
    b: await world.startMonitorProcess({ MONITOR_REPLICA_ID: 'replica-b' }),
  };
  // Sixteen deployables over eight shards: the chance that all land on one replica's four is 2 × 2⁻¹⁶.
  for (let index = 0; index < 16; index++) {
    const deployable = await world.startDeployable(manifest(`app-${index}`));
    assemblies.push(await world.launch(deployable, 'db'));
  }
}, 90_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('monitor replicas', () => {
  it('split the deployables between them, and each sees every heartbeat', async () => {
    const watchers = await waitFor(
      async () => {
        const seen = await Promise.all(assemblies.map((assembly) => watcherOf(assembly, replicas.a)));
        const fromB = await Promise.all(assemblies.map((assembly) => watcherOf(assembly, replicas.b)));
        if (seen.some((watcher) => watcher === undefined) || fromB.some((watcher) => watcher === undefined)) return undefined;
        return new Set(seen).size === 2 ? seen : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'both replicas to watch their share, seeing every VM beat' },
    );
    expect(new Set(watchers)).toEqual(new Set(['replica-a', 'replica-b']));
    // Each VM announced running once, by whichever replica speaks for it.
    await waitFor(() => (countBy(world.events, 'assembly.running').size === assemblies.length ? true : undefined), { timeoutMs: 10_000 });
    expect([...countBy(world.events, 'assembly.running').values()].every((count) => count === 1)).toBe(true);
  }, 60_000);

  it('takes over the verdicts of a replica killed with SIGKILL within about one lease, without duplicates', async () => {
    const watchers = await Promise.all(assemblies.map((assembly) => watcherOf(assembly, replicas.b)));
    const victimId = watchers[0] as 'replica-a' | 'replica-b';
    const victim = victimId === 'replica-a' ? replicas.a : replicas.b;
    const survivor = victimId === 'replica-a' ? replicas.b : replicas.a;
    const orphans = assemblies.filter((_, index) => watchers[index] === victimId);
    const others = assemblies.filter((_, index) => watchers[index] !== victimId);
    expect(orphans.length).toBeGreaterThan(0);

    await victim.kill('SIGKILL');
    const killedAt = Date.now();
    for (const assembly of [...orphans, ...others]) await world.fault({ kind: 'vm-crash', target: { vm: assembly.instance.id } });

    const failed = await waitFor(
      () => {
        const counts = countBy(world.events, 'assembly.failed');
        return assemblies.every((assembly) => counts.has(assembly.assemblyId)) ? world.events.filter((event) => event.type === 'assembly.failed') : undefined;
      },
      { timeoutMs: LEASE_MS + CRASH_BOUND_MS + 10_000, intervalMs: 100, what: 'a verdict for every crashed VM' },
    );
    for (const assembly of orphans) {
      const event = failed.find((candidate) => 'assemblyId' in candidate.subject && candidate.subject.assemblyId === assembly.assemblyId);
      // One lease for the dead replica's shards to expire, a quarter for the survivor's next round, then the crash's own bound.
      expect(Date.parse(event?.occurredAt ?? '') - killedAt).toBeLessThanOrEqual(LEASE_MS * 1.25 + CRASH_BOUND_MS + 1_000);
    }
    // The survivor speaks for everyone now.
    await waitFor(async () => ((await Promise.all(orphans.map((assembly) => api(survivor).request('GET', `/v1/assemblies/${assembly.assemblyId}/liveness`).then((r) => r.json() as Promise<{ watchedBy: string | null }>)))).every((body) => body.watchedBy === (victimId === 'replica-a' ? 'replica-b' : 'replica-a')) ? true : undefined), {
      timeoutMs: 10_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (const type of ['assembly.failed', 'assembly.running', 'assembly.unresponsive']) {
      expect([...countBy(world.events, type).values()].every((count) => count === 1), type).toBe(true);
    }
    expect(new Set(world.events.map((event) => event.id)).size).toBe(world.events.length);
    // Every VM silent at once, before the cloud's view reached the survivor (the dead replica may
    // have been the one listing the cloud), may make it doubt itself for a moment; the cloud's view
    // explains the silence and it trusts itself again.
    await waitFor(() => (world.events.filter((event) => event.type === 'monitor.recovered').length === world.events.filter((event) => event.type === 'monitor.degraded').length ? true : undefined), {
      timeoutMs: 10_000,
      what: 'every monitor.degraded to be followed by monitor.recovered',
    });
  }, 60_000);
});
