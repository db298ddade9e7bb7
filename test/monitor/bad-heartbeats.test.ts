/**
 * Heartbeats that must never count as liveness, put on the agent exchange as anyone on the broker
 * could: unparseable JSON, a wrong MAC, another assembly's id, a replay, a beat from an old VM of
 * the assembly, an assembly nobody runs. Each is counted by reason and dropped (the unparseable
 * one dead-lettered for inspection); the monitor neither crashes nor takes any as liveness.
 */
import { randomUUID } from 'node:crypto';
import { deriveAgentKey, heartbeatRoutingKey, signAgentMessage, type Heartbeat, type Unsigned } from '@defib/contracts';
import { busNames, openBrokerConnection } from '@defib/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { startMonitorWorld, waitUntilAlive, type LaunchedAssembly, type MonitorWorld } from './monitor-world.ts';

let world: MonitorWorld;
let db: LaunchedAssembly;
let other: LaunchedAssembly;

interface Seen {
  instanceId: string;
  bootId: string;
  sequence: number;
  state: string;
  staleHeartbeats: number;
}

const seen = (assembly: LaunchedAssembly) => world.monitorApi.json<Seen>('GET', `/v1/assemblies/${assembly.assemblyId}/liveness`, 200);

/** A heartbeat as `assembly`'s agent would send it, with any field overridden. */
function beat(assembly: LaunchedAssembly, overrides: Partial<Unsigned<Heartbeat>> = {}): Unsigned<Heartbeat> {
  return {
    kind: 'heartbeat',
    protocol: 1,
    assemblyId: assembly.assemblyId,
    deployableId: assembly.deployableId,
    instanceId: assembly.instance.id,
    bootId: randomUUID(),
    sequence: 1,
    sentAt: Date.now(),
    intervalMs: 1_000,
    addresses: [],
    resources: [],
    ...overrides,
  };
}

async function publishRaw(entries: { assemblyId: string; body: Buffer }[]): Promise<void> {
  const connection = await openBrokerConnection(world.bus.url, { connectionName: 'test-intruder' });
  try {
    const channel = await connection.createConfirmChannel();
    const exchange = busNames(world.bus.prefix).agentsExchange;
    for (const entry of entries) channel.publish(exchange, heartbeatRoutingKey(entry.assemblyId), entry.body);
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await world.monitorApi.request('GET', '/metrics')).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (wanted.every((label) => line.includes(label))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

beforeAll(async () => {
  world = await startMonitorWorld();
  const manifest = (name: string) => ({ apiVersion: 'defib/v1' as const, kind: 'Deployable' as const, name, cloud: 'sim-openstack', assemblies: [{ name: 'db', image: 'fedora-40', flavor: 'm1.small' }] });
  db = await world.launch(await world.startDeployable(manifest('target')), 'db');
  other = await world.launch(await world.startDeployable(manifest('neighbour')), 'db');
  await waitUntilAlive(world, [db, other]);
}, 60_000);

afterAll(async () => {
  await world?.close();
}, 30_000);

describe('heartbeats the monitor refuses', () => {
  it('counts each by reason, dead-letters the unparseable, and takes none as liveness', async () => {
    const key = deriveAgentKey(world.agentSecret, db.assemblyId);
    const current = await seen(db);
    const wrongKey = deriveAgentKey(Buffer.alloc(32, 9), db.assemblyId);
    const oldVm = 'f00dfeed-0000-4000-8000-000000000001';
    await publishRaw([
      { assemblyId: db.assemblyId, body: Buffer.from('{"kind":"heartbeat",') },
      { assemblyId: db.assemblyId, body: signAgentMessage(beat(db, { sequence: current.sequence + 100 }), wrongKey) },
      // Signed with db's key, claiming to be its neighbour.
      { assemblyId: other.assemblyId, body: signAgentMessage(beat(other, { sequence: 1 }), key) },
      // A beat db's agent already sent: its boot, an old sequence.
      { assemblyId: db.assemblyId, body: signAgentMessage(beat(db, { bootId: current.bootId, sequence: Math.max(1, current.sequence - 1) }), key) },
      { assemblyId: db.assemblyId, body: signAgentMessage(beat(db, { instanceId: oldVm, sequence: 1 }), key) },
      { assemblyId: randomUUID(), body: Buffer.from('{}') },
    ]);
    const unknown = randomUUID();
    await publishRaw([{ assemblyId: unknown, body: signAgentMessage(beat({ ...db, assemblyId: unknown }), deriveAgentKey(world.agentSecret, unknown)) }]);

    await waitFor(async () => ((await metric('defib_agent_messages_rejected_total', { reason: 'malformed' })) >= 2 ? true : undefined), { what: 'the malformed beats to be counted' });
    await waitFor(async () => ((await metric('defib_agent_messages_rejected_total', { reason: 'bad-mac' })) >= 2 ? true : undefined), { what: 'the forged beats to be counted' });
    await waitFor(async () => ((await metric('defib_agent_messages_rejected_total', { reason: 'replayed' })) >= 1 ? true : undefined), { what: 'the replay to be counted' });
    await waitFor(async () => ((await metric('defib_agent_messages_rejected_total', { reason: 'unknown-assembly' })) >= 1 ? true : undefined), { what: 'the stranger to be counted' });
    await waitFor(async () => ((await metric('defib_monitor_heartbeats_total', { outcome: 'stale-instance' })) >= 1 ? true : undefined), { what: 'the old VM’s beat to be counted' });

    // The old VM's beat is reported, never trusted.
    const disputed = await world.waitForEvent('assembly.state-disputed', db.assemblyId, 5_000);
    expect(disputed.data).toMatchObject({ instanceId: oldVm });
    const after = await seen(db);
    expect(after.instanceId).toBe(db.instance.id);
    expect(after.bootId).toBe(current.bootId);
    expect(after.staleHeartbeats).toBe(1);
    expect(world.eventsAbout('assembly.running', db.assemblyId)).toHaveLength(1);
    expect(world.eventsAbout('assembly.running', other.assemblyId)).toHaveLength(1);

    // The unparseable ones wait in the replica's dead-letter queue.
    const connection = await openBrokerConnection(world.bus.url, { connectionName: 'test-inspector' });
    try {
      const channel = await connection.createChannel();
      const replica = world.monitor?.replicaId.replace(/[^A-Za-z0-9_.-]/g, '-') ?? '';
      const { messageCount } = await channel.checkQueue(busNames(world.bus.prefix).agentDeadLetterQueue(`monitor.${replica}`));
      expect(messageCount).toBe(2);
    } finally {
      await connection.close();
    }
    expect((await world.monitorApi.request('GET', '/readyz')).status).toBe(200);
  }, 30_000);
});
