import { AGENT_PROTOCOL_VERSION, encodeAgentConfig, isPingReply, heartbeatRoutingKey, parseAgentReply, parseHeartbeat, replyRoutingKey, signAgentMessage, verifyAgentMessage } from '@defib/contracts';
import { testAgentKey, testAgentKeyText } from '@defib/contracts/testing';
import type { Heartbeat, PingReply, ResourceReply } from '@defib/contracts';
import { createLogger } from '@defib/platform';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@defib/platform/testing';
import { Cloud } from '../cloud/cloud.ts';
import { resolveCloudConfig } from '../cloud/cloud-config.ts';
import { SeededRandom } from '@defib/platform';
import { AgentRuntime } from './agent-runtime.ts';
import { InMemoryAgentNetwork } from './in-memory-agent-network.ts';

const BROKER = 'amqp://broker.test';
const EXCHANGE = 'defib.agents';
const timings = { build: 10_000, reboot: 4_000, hardReboot: 2_000, stop: 3_000, start: 5_000, rebuild: 6_000, delete: 1_000, jitter: 0, deletedRetention: 60_000, statusChecksAfter: 30_000 };
const agentTimings = { agentStart: 500, resourceStart: 2_000, restart: 3_000, start: 3_000, stop: 1_000, reconfigure: 500, jitter: 0 };

function world(seed = 'runtime-spec') {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const random = new SeededRandom(seed);
  const cloud = new Cloud(resolveCloudConfig({ name: 'sim-openstack', provider: 'openstack', timings }), { clock, random: random.fork('cloud'), speedFactor: 1 });
  const network = new InMemoryAgentNetwork();
  const agents = new AgentRuntime({ clouds: [cloud], clock, random: random.fork('agents'), speedFactor: 1, network, timings: agentTimings, logger: createLogger({ service: 'test', level: 'silent' }) });
  let assemblies = 0;
  const launch = (options: { userData?: string | null; resources?: string[] } = {}) => {
    const assemblyId = `00000000-0000-4000-8000-${String(++assemblies).padStart(12, '0')}`;
    const userData =
      options.userData !== undefined
        ? options.userData
        : encodeAgentConfig({
            protocol: AGENT_PROTOCOL_VERSION,
            brokerUrl: BROKER,
            exchange: EXCHANGE,
            deployableId: '11111111-1111-4111-8111-111111111111',
            assemblyId,
            key: testAgentKeyText(assemblyId),
            assembly: 'db',
            heartbeatIntervalMs: 1_000,
            resources: (options.resources ?? ['mysqld']).map((name) => ({ name, monitorIntervalMs: 2_000 })),
          });
    const [vm] = cloud.create({ name: 'db', imageId: cloud.images[0]?.id ?? '', flavorId: '1', userData });
    if (!vm) throw new Error('no VM');
    clock.advance(timings.build);
    return { vmId: vm.id, assemblyId };
  };
  const beats = (assemblyId: string): Heartbeat[] => network.bodies(heartbeatRoutingKey(assemblyId)).map(parseHeartbeat);
  const replies = (assemblyId: string): ResourceReply[] => network.bodies(replyRoutingKey(assemblyId)).map(parseAgentReply).filter((reply): reply is ResourceReply => !isPingReply(reply));
  const pongs = (assemblyId: string): PingReply[] => network.bodies(replyRoutingKey(assemblyId)).map(parseAgentReply).filter(isPingReply);
  const send = (assemblyId: string, fields: Record<string, unknown>, key = testAgentKey(assemblyId)) =>
    network.deliverCommand(BROKER, EXCHANGE, assemblyId, signAgentMessage({ kind: 'command', protocol: AGENT_PROTOCOL_VERSION, commandId: crypto.randomUUID(), assemblyId, resource: 'mysqld', action: 'restart', issuedAt: clock.now(), deadlineMs: 60_000, ...fields }, key));
  return { clock, cloud, network, agents, launch, beats, replies, pongs, send };
}

describe('agent runtime', () => {
  it('beats on drift-free slots: beat n is due at the first beat + (n - 1) intervals', () => {
    const { clock, agents, launch, beats } = world();
    const { vmId, assemblyId } = launch();
    const first = agents.snapshot(vmId)?.nextBeatAt ?? 0;
    clock.advance(10_000);
    const sent = beats(assemblyId);
    expect(sent.length).toBeGreaterThanOrEqual(9);
    for (const beat of sent) {
      const due = first + (beat.sequence - 1) * 1_000;
      expect(beat.sentAt - due).toBeGreaterThanOrEqual(0);
      expect(beat.sentAt - due).toBeLessThan(10);
    }
    const snapshot = agents.snapshot(vmId);
    expect(snapshot?.nextBeatAt).toBe(first + (snapshot?.sequence ?? 0) * 1_000);
  });

  it('gives the same boot ids and beat times for the same seed, and different ones for another', () => {
    const run = (seed: string) => {
      const { clock, launch, beats } = world(seed);
      const ids = [launch(), launch()];
      clock.advance(5_000);
      return ids.flatMap(({ assemblyId }) => beats(assemblyId).map((beat) => `${beat.bootId}@${beat.sentAt}`));
    };
    expect(run('a')).toEqual(run('a'));
    expect(run('a')).not.toEqual(run('b'));
  });

  it('spreads the first beats of VMs that boot together over the interval', () => {
    const { agents, launch } = world();
    const phases = Array.from({ length: 20 }, () => launch()).map(({ vmId }) => (agents.snapshot(vmId)?.nextBeatAt ?? 0) % 1_000);
    expect(new Set(phases.map((phase) => Math.floor(phase / 100))).size).toBeGreaterThan(5);
  });

  it('runs no agent for user data that is not an agent configuration, and controls refuse it', () => {
    const { agents, launch, network } = world();
    const { vmId } = launch({ userData: Buffer.from('#!/bin/sh\necho hello\n').toString('base64') });
    expect(agents.snapshot(vmId)).toBeUndefined();
    expect([agents.partition(vmId), agents.hang(vmId), agents.heal(vmId), agents.crashResource(vmId, 'mysqld')]).toEqual([false, false, false, false]);
    expect(agents.setResourceFault(vmId, 'mysqld', { kind: 'no-restart' })).toBe(false);
    expect(network.published).toEqual([]);
  });

  it('acts on a command id once and repeats its reply to a duplicate', () => {
    const { clock, launch, send, replies, agents } = world();
    const { vmId, assemblyId } = launch();
    clock.advance(3_000);
    const commandId = crypto.randomUUID();
    send(assemblyId, { commandId });
    send(assemblyId, { commandId });
    clock.advance(3_000);
    send(assemblyId, { commandId });
    expect(replies(assemblyId)).toEqual([expect.objectContaining({ commandId, ok: true }), expect.objectContaining({ commandId, ok: true })]);
    expect(agents.snapshot(vmId)?.resources[0]?.state).toBe('running');
  });

  it('runs one command per resource at a time, in arrival order', () => {
    const { clock, launch, send, replies } = world();
    const { assemblyId } = launch();
    clock.advance(3_000);
    const stop = crypto.randomUUID();
    const start = crypto.randomUUID();
    send(assemblyId, { commandId: stop, action: 'stop' });
    send(assemblyId, { commandId: start, action: 'start' });
    clock.advance(1_000);
    expect(replies(assemblyId).map((reply) => [reply.commandId, reply.state])).toEqual([[stop, 'stopped']]);
    clock.advance(3_000);
    expect(replies(assemblyId).map((reply) => [reply.commandId, reply.state])).toEqual([
      [stop, 'stopped'],
      [start, 'running'],
    ]);
  });

  it('answers a command for a resource it does not run as failed', () => {
    const { launch, send, replies } = world();
    const { assemblyId } = launch();
    send(assemblyId, { resource: 'postgres' });
    expect(replies(assemblyId)).toEqual([expect.objectContaining({ ok: false, resource: 'postgres', state: 'unknown', error: expect.stringMatching(/no resource/) as string })]);
  });

  it('answers a ping at once with its boot, its latest beat and every resource', () => {
    const { clock, launch, send, pongs, agents } = world();
    const { vmId, assemblyId } = launch();
    clock.advance(3_000);
    const snapshot = agents.snapshot(vmId);
    send(assemblyId, { action: 'ping', resource: undefined });
    expect(pongs(assemblyId)).toEqual([
      expect.objectContaining({ ok: true, bootId: snapshot?.bootId, sequence: snapshot?.sequence, resources: [expect.objectContaining({ name: 'mysqld', state: 'running' })] }),
    ]);
  });

  it('signs its heartbeats and replies with the key from its user data', () => {
    const { clock, launch, send, network } = world();
    const { assemblyId } = launch();
    clock.advance(3_000);
    send(assemblyId, { action: 'ping', resource: undefined });
    const bodies = network.published.map((message) => message.body);
    expect(bodies.length).toBeGreaterThan(1);
    expect(bodies.every((body) => verifyAgentMessage(body, testAgentKey(assemblyId)))).toBe(true);
    expect(bodies.some((body) => verifyAgentMessage(body, testAgentKey(crypto.randomUUID())))).toBe(false);
  });

  it("ignores, and counts, a command signed with another assembly's key or not signed at all", () => {
    const { clock, launch, send, replies, network, agents } = world();
    const { assemblyId } = launch();
    clock.advance(3_000);
    send(assemblyId, { action: 'stop' }, testAgentKey(crypto.randomUUID()));
    network.deliverCommand(BROKER, EXCHANGE, assemblyId, { kind: 'command', protocol: AGENT_PROTOCOL_VERSION, commandId: crypto.randomUUID(), assemblyId, resource: 'mysqld', action: 'stop', issuedAt: clock.now(), deadlineMs: 60_000 });
    clock.advance(3_000);
    expect(replies(assemblyId)).toEqual([]);
    expect(agents.rejectedCommands).toEqual({ 'bad-mac': 2, malformed: 0 });
  });

  it('reconfigures a resource without restarting it', () => {
    const { clock, launch, send, replies, beats } = world();
    const { assemblyId } = launch();
    clock.advance(3_000);
    send(assemblyId, { action: 'reconfigure', params: { DB_HOST: '10.0.0.9' } });
    clock.advance(1_000);
    expect(replies(assemblyId)).toEqual([expect.objectContaining({ ok: true, state: 'running' })]);
    expect(beats(assemblyId).every((beat) => beat.resources[0]?.state !== 'failed')).toBe(true);
  });

  it('keeps a partition and lasting resource faults across a reboot, but not a hang', () => {
    const { clock, cloud, agents, launch, beats } = world();
    const { vmId, assemblyId } = launch();
    agents.partition(vmId);
    agents.hang(vmId);
    agents.setResourceFault(vmId, 'mysqld', { kind: 'no-restart' });
    cloud.request(vmId, 'reboot');
    clock.advance(timings.reboot + 5_000);
    expect(agents.snapshot(vmId)).toMatchObject({ hung: false, silent: true, partitionedUntil: Number.POSITIVE_INFINITY, resources: [{ name: 'mysqld', state: 'failed', fault: 'no-restart' }] });
    const before = beats(assemblyId).length;
    clock.advance(3_000);
    expect(beats(assemblyId)).toHaveLength(before);
    expect(agents.heal(vmId)).toBe(true);
    clock.advance(2_000);
    expect(beats(assemblyId).length).toBeGreaterThan(before);
  });

  it('starts the flap clock when the fault is set on a running resource, and stops it when cleared', () => {
    const { clock, agents, launch } = world();
    const { vmId } = launch();
    clock.advance(3_000);
    agents.setResourceFault(vmId, 'mysqld', { kind: 'flap', failAfterMs: 4_000 });
    clock.advance(3_999);
    expect(agents.snapshot(vmId)?.resources[0]?.state).toBe('running');
    clock.advance(1);
    expect(agents.snapshot(vmId)?.resources[0]?.state).toBe('failed');
    const { vmId: other } = launch();
    clock.advance(3_000);
    agents.setResourceFault(other, 'mysqld', { kind: 'flap', failAfterMs: 4_000 });
    agents.setResourceFault(other, 'mysqld', undefined);
    clock.advance(10_000);
    expect(agents.snapshot(other)?.resources).toEqual([{ name: 'mysqld', state: 'running' }]);
  });

  it('drops beats while the network is down and carries on afterwards', () => {
    const { clock, network, launch, beats } = world();
    const { assemblyId } = launch();
    network.connected = false;
    clock.advance(5_000);
    expect(beats(assemblyId)).toEqual([]);
    network.connected = true;
    clock.advance(1_000);
    expect(beats(assemblyId).map((beat) => beat.sequence)).toEqual([expect.any(Number) as number]);
    expect(beats(assemblyId)[0]?.sequence).toBeGreaterThan(4);
  });

  it('silences every agent on reset and on close', async () => {
    const { clock, agents, launch, network } = world();
    launch();
    agents.reset();
    expect(agents.runningCount).toBe(0);
    launch();
    await agents.close();
    const published = network.published.length;
    clock.advance(10_000);
    expect(network.published).toHaveLength(published);
  });
});
