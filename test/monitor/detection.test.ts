/**
 * The monitor against the simulator over the real RabbitMQ and PostgreSQL: VMs launched through
 * the drivers with real agent configurations, faults injected through the simulator's control
 * API, and for each fault exactly the right event, within its bound, saying the right failure.
 * Heartbeats every second, three missed make a silence: 3 s.
 */
import type { DomainEvent, ManifestInput } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { startMonitorWorld, waitUntilAlive, type LaunchedAssembly, type MonitorWorld } from './monitor-world.ts';

const TIMEOUT_MS = 3_000;
/** A silence verdict comes at the timeout; the cloud's confirmation adds a poll or a look. */
const SILENCE_BOUND_MS = TIMEOUT_MS + 2_000;
/** The cloud's view of a crash arrives within a poll (500 ms) once the heartbeats are late. */
const CRASH_BOUND_MS = TIMEOUT_MS + 1_000;

let world: MonitorWorld;

function manifest(name: string, cloud = 'sim-openstack'): ManifestInput {
  return {
    apiVersion: 'defib/v1',
    kind: 'Deployable',
    name,
    cloud,
    assemblies: [
      {
        name: 'db',
        image: 'fedora-40',
        flavor: 'm1.small',
        heartbeat: { interval: '1s', missed: 3 },
        resources: [{ name: 'mysqld', monitor: { interval: '500ms', timeout: '200ms' } }],
      },
    ],
  };
}

/** Starts a one-VM deployable and waits until the monitor sees it beat. */
async function runningAssembly(name: string, cloud = 'sim-openstack'): Promise<LaunchedAssembly> {
  const deployable = await world.startDeployable(manifest(name, cloud));
  const launched = await world.launch(deployable, 'db');
  await waitUntilAlive(world, [launched]);
  return launched;
}

/** The verdicts (failure events) about an assembly so far. */
function verdicts(assembly: LaunchedAssembly): DomainEvent[] {
  return world.events.filter(
    (event) => ['assembly.failed', 'assembly.unresponsive', 'assembly.state-disputed'].includes(event.type) && 'assemblyId' in event.subject && event.subject.assemblyId === assembly.assemblyId,
  );
}

async function onlyVerdict(assembly: LaunchedAssembly, type: 'assembly.failed' | 'assembly.unresponsive', boundMs: number, injectedAt: number): Promise<DomainEvent> {
  const event = await world.waitForEvent(type, assembly.assemblyId, boundMs + 2_000);
  expect(Date.parse(event.occurredAt) - injectedAt).toBeLessThanOrEqual(boundMs);
  // Nothing else follows for the same episode.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(verdicts(assembly).map((verdict) => verdict.type)).toEqual([type]);
  return event;
}

beforeAll(async () => {
  world = await startMonitorWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('monitor detection', () => {
  it('announces a launched VM as running on its first heartbeat, once', async () => {
    const db = await runningAssembly('first-beat');
    const running = await world.waitForEvent('assembly.running', db.assemblyId, 5_000);
    expect(running.data).toMatchObject({ instanceId: db.instance.id });
    const liveness = await world.monitorApi.json<{ state: string; bootId: string; sequence: number; resources: Record<string, { state: string }> }>('GET', `/v1/assemblies/${db.assemblyId}/liveness`, 200);
    expect(liveness.state).toBe('alive');
    expect(liveness.sequence).toBeGreaterThan(0);
    await waitFor(async () => {
      const body = await world.monitorApi.json<{ resources: Record<string, { state: string }> }>('GET', `/v1/assemblies/${db.assemblyId}/liveness`, 200);
      return body.resources.mysqld?.state === 'running' ? true : undefined;
    });
    expect(world.eventsAbout('assembly.running', db.assemblyId)).toHaveLength(1);
    expect(verdicts(db)).toEqual([]);
  }, 30_000);

  it('calls a crashed VM crashed: silent, and the cloud says SHUTOFF', async () => {
    const db = await runningAssembly('crash');
    const injectedAt = Date.now();
    await world.fault({ kind: 'vm-crash', target: { vm: db.instance.id } });
    const failed = await onlyVerdict(db, 'assembly.failed', CRASH_BOUND_MS, injectedAt);
    expect(failed.data).toMatchObject({ instanceId: db.instance.id, failure: 'crashed', cloudStatus: expect.stringMatching(/SHUTOFF/) as string });
  }, 30_000);

  it('calls a hung VM on OpenStack hung-or-partitioned: silent while the cloud says ACTIVE', async () => {
    const db = await runningAssembly('hang');
    const injectedAt = Date.now();
    await world.fault({ kind: 'vm-hang', target: { vm: db.instance.id } });
    const unresponsive = await onlyVerdict(db, 'assembly.unresponsive', SILENCE_BOUND_MS, injectedAt);
    expect(unresponsive.data).toMatchObject({ instanceId: db.instance.id, failure: 'hung-or-partitioned', cloudStatus: expect.stringMatching(/ACTIVE/) as string, missed: 3 });
    expect((unresponsive.data as { silentForMs: number }).silentForMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
  }, 30_000);

  it('calls a hung VM on EC2 hung: silent, and the status checks say impaired', async () => {
    const db = await runningAssembly('hang-ec2', 'sim-ec2');
    const injectedAt = Date.now();
    await world.fault({ kind: 'vm-hang', target: { vm: db.instance.id } });
    const failed = await onlyVerdict(db, 'assembly.failed', SILENCE_BOUND_MS, injectedAt);
    expect(failed.data).toMatchObject({ instanceId: db.instance.id, failure: 'hung' });
  }, 30_000);

  it('calls a partitioned agent on a healthy VM hung-or-partitioned, not crashed', async () => {
    const db = await runningAssembly('partition');
    const injectedAt = Date.now();
    await world.fault({ kind: 'agent-partition', target: { vm: db.instance.id } });
    const unresponsive = await onlyVerdict(db, 'assembly.unresponsive', SILENCE_BOUND_MS, injectedAt);
    expect(unresponsive.data).toMatchObject({ failure: 'hung-or-partitioned' });
  }, 30_000);

  it('reports a crashed resource once, with the agent’s detail', async () => {
    const db = await runningAssembly('resource-crash');
    await waitFor(async () => {
      const body = await world.monitorApi.json<{ resources: Record<string, { state: string }> }>('GET', `/v1/assemblies/${db.assemblyId}/liveness`, 200);
      return body.resources.mysqld?.state === 'running' ? true : undefined;
    });
    const injectedAt = Date.now();
    await world.fault({ kind: 'resource-crash', target: { vm: db.instance.id }, resource: 'mysqld' });
    const failed = await world.waitForEvent('resource.failed', db.assemblyId, 5_000);
    // The agent checks every 500 ms and beats every second.
    expect(Date.parse(failed.occurredAt) - injectedAt).toBeLessThanOrEqual(2_000);
    expect(failed.subject).toMatchObject({ resource: 'mysqld' });
    expect(failed.data).toMatchObject({ state: 'failed' });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(world.eventsAbout('resource.failed', db.assemblyId)).toHaveLength(1);
    expect(verdicts(db)).toEqual([]);
  }, 30_000);

  it('reports an address change once, with the old and the new addresses', async () => {
    const db = await runningAssembly('ip-change');
    const seen = await world.monitorApi.json<{ addresses: { address: string }[] }>('GET', `/v1/assemblies/${db.assemblyId}/liveness`, 200);
    const before = seen.addresses.map((address) => address.address);
    expect(before).not.toEqual([]);
    await world.fault({ kind: 'ip-change', target: { vm: db.instance.id } });
    const changed = await world.waitForEvent('assembly.address-changed', db.assemblyId, 5_000);
    const data = changed.data as { previous: { address: string }[]; current: { address: string }[] };
    expect(data.previous.map((address) => address.address)).toEqual(before);
    expect(data.current.map((address) => address.address)).not.toEqual(before);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(world.eventsAbout('assembly.address-changed', db.assemblyId)).toHaveLength(1);
    expect(verdicts(db)).toEqual([]);
  }, 30_000);

  it('calls a VM that never boots boot-failed, from the cloud’s ERROR, before its boot grace ends', async () => {
    const deployable = await world.startDeployable(manifest('boot-failure'));
    await world.fault({ kind: 'boot-failure', target: { assembly: deployable.assemblyIds.db }, to: 'error' });
    const injectedAt = Date.now();
    const db = await world.launch(deployable, 'db');
    const failed = await world.waitForEvent('assembly.failed', db.assemblyId, 8_000);
    expect(failed.data).toMatchObject({ instanceId: db.instance.id, failure: 'boot-failed', cloudStatus: expect.stringMatching(/ERROR/) as string });
    expect(Date.parse(failed.occurredAt) - injectedAt).toBeLessThan(8_000);
  }, 30_000);

  it('raises no alarm about the VMs of a deployable being stopped', async () => {
    const db = await runningAssembly('stopping');
    await world.publishAs('deployable.stop-requested', { subject: { deployableId: db.deployableId, deployable: db.deployable }, data: { version: 1 } });
    await waitFor(async () => {
      const body = await world.monitorApi.json<{ state: string }>('GET', `/v1/deployables/${db.deployable}/liveness`, 200);
      return body.state === 'stopping' ? true : undefined;
    });
    await world.driver('sim-openstack').terminate(db.instance.id);
    await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS + 1_500));
    expect(verdicts(db)).toEqual([]);
  }, 30_000);

  it('raises no alarm when the monitor itself restarts, and resumes watching', async () => {
    const db = await runningAssembly('monitor-restart');
    await world.restartMonitor();
    await waitUntilAlive(world, [db]);
    await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS + 1_000));
    expect(verdicts(db)).toEqual([]);
    // It still sees a real failure after its restart.
    const injectedAt = Date.now();
    await world.fault({ kind: 'vm-crash', target: { vm: db.instance.id } });
    await onlyVerdict(db, 'assembly.failed', CRASH_BOUND_MS, injectedAt);
  }, 40_000);

  it('says once that a cloud’s API stopped answering and once that it answers again, and declares no VM failed for it', async () => {
    const db = await runningAssembly('api-outage');
    await world.fault({ kind: 'api-outage', target: { cloud: 'sim-openstack' }, duration: '8s' });
    const degraded = await waitFor(() => world.events.find((event) => event.type === 'monitor.degraded'), { timeoutMs: 8_000, what: 'monitor.degraded' });
    expect(degraded.subject).toMatchObject({ cloud: 'sim-openstack' });
    expect(degraded.data).toMatchObject({ cause: 'cloud-unreachable' });
    const recovered = await waitFor(() => world.events.find((event) => event.type === 'monitor.recovered'), { timeoutMs: 12_000, what: 'monitor.recovered' });
    expect(recovered.data).toMatchObject({ cause: 'cloud-unreachable' });
    expect(world.events.filter((event) => event.type === 'monitor.degraded')).toHaveLength(1);
    expect(verdicts(db)).toEqual([]);
  }, 30_000);

  it('answers 404 problem+json for an assembly or deployable it does not watch, and 400 for a bad id', async () => {
    const unknown = await world.monitorApi.request('GET', '/v1/assemblies/7b0bcb4e-54a4-4f28-9a1f-3c2b9c0b8a11/liveness');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    expect((await world.monitorApi.request('GET', '/v1/deployables/nothing-here/liveness')).status).toBe(404);
    const bad = await world.monitorApi.request('GET', '/v1/assemblies/not-a-uuid/liveness');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
  });
});
