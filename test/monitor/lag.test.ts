/**
 * A monitor that falls behind distrusts itself before it distrusts the VMs: frozen for 5 s
 * (SIGSTOP), it sees every VM silent and a backlog of late heartbeats when it thaws. It must give
 * no verdict, say once that it lagged and once that it recovered, and report not ready meanwhile.
 */
import type { ManifestInput } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, waitFor, type ServiceProcess } from '../support/index.ts';
import { ADMIN_TOKEN, startMonitorWorld, type LaunchedAssembly, type MonitorWorld } from './monitor-world.ts';

const PAUSE_MS = 5_000;

let world: MonitorWorld;
let monitor: ServiceProcess;
const assemblies: LaunchedAssembly[] = [];

const manifest = (name: string): ManifestInput => ({
  apiVersion: 'defib/v1',
  kind: 'Deployable',
  name,
  cloud: 'sim-openstack',
  assemblies: ['db', 'web', 'cache'].map((assembly) => ({ name: assembly, image: 'fedora-40', flavor: 'm1.small', heartbeat: { interval: '1s', missed: 3 } })),
});

beforeAll(async () => {
  world = await startMonitorWorld({ inProcessMonitor: false });
  monitor = await world.startMonitorProcess({ MONITOR_REPLICA_ID: 'laggard', MONITOR_SETTLE: '1s' });
  const deployable = await world.startDeployable(manifest('shop'));
  for (const name of ['db', 'web', 'cache']) assemblies.push(await world.launch(deployable, name));
  const api = apiClient(() => monitor.url, ADMIN_TOKEN);
  await waitFor(
    async () => {
      const body = await api.json<{ assemblies: { state: string }[] }>('GET', '/v1/deployables/shop/liveness', 200).catch(() => undefined);
      return body?.assemblies.length === 3 && body.assemblies.every((assembly) => assembly.state === 'alive') ? true : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, what: 'every VM to beat' },
  );
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('a monitor that falls behind', () => {
  it('holds its verdicts, says degraded and recovered once each, and is ready again after', async () => {
    const api = apiClient(() => monitor.url, ADMIN_TOKEN);
    monitor.child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    monitor.child.kill('SIGCONT');
    const degraded = await waitFor(() => world.events.find((event) => event.type === 'monitor.degraded'), { timeoutMs: 5_000, what: 'monitor.degraded' });
    expect(degraded.subject).toEqual({ monitor: 'laggard' });
    expect(degraded.data).toMatchObject({ cause: 'lagging' });
    const recovered = await waitFor(() => world.events.find((event) => event.type === 'monitor.recovered'), { timeoutMs: 15_000, what: 'monitor.recovered' });
    expect((recovered.data as { degradedForMs: number }).degradedForMs).toBeGreaterThan(0);
    expect((await api.request('GET', '/readyz')).status).toBe(200);
    // One more timeout after it caught up: still no verdict about VMs that never stopped beating.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(world.events.filter((event) => ['assembly.unresponsive', 'assembly.failed'].includes(event.type))).toEqual([]);
    expect(world.events.filter((event) => event.type === 'monitor.degraded')).toHaveLength(1);
    expect(world.events.filter((event) => event.type === 'monitor.recovered')).toHaveLength(1);
  }, 40_000);
});
