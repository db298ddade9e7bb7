/**
 * The simulated in-guest agents over the real RabbitMQ. Simulated time is a ManualClock, so a beat
 * is published only when the test advances it. All agents share one broker connection, so
 * messages arrive in the order they were published: once a sentinel VM's later beat (or reply)
 * has arrived, everything published before it has too, and "no beat from X" is a fact, not a
 * guess after a sleep.
 */
import { randomUUID } from 'node:crypto';
import { AGENT_PROTOCOL_VERSION, commandRoutingKey, parseAgentReply, parseHeartbeat, signAgentMessage } from '@defib/contracts';
import { testAgentKey } from '@defib/contracts/testing';
import type { AgentAction, AgentReply, Heartbeat } from '@defib/contracts';
import amqp from 'amqplib';
import type { Channel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedBus, waitFor } from '../../test/support/index.ts';
import type { IsolatedBus } from '../../test/support/index.ts';
import { ManualClock } from '@defib/platform/testing';
import type { Cloud } from '../src/cloud/cloud.ts';
import { createSimulator } from '../src/simulator.ts';
import type { Simulator } from '../src/simulator.ts';
import { agentUserData, testTimings } from './support/simulator-harness.ts';

const INTERVAL_MS = 1_000;
const agentTimings = { agentStart: 0, resourceStart: 2_000, restart: 3_000, start: 3_000, stop: 1_000, reconfigure: 500, jitter: 0 };

let bus: IsolatedBus;
let exchange: string;
let connection: Awaited<ReturnType<typeof amqp.connect>>;
let channel: Channel;
let clock: ManualClock;
let simulator: Simulator;
let ec2: Cloud;
let sentinel: { vmId: string; assemblyId: string };
const heartbeats: Heartbeat[] = [];
const replies: AgentReply[] = [];
const invalid: { routingKey: string; error: unknown }[] = [];

function userData(assemblyId: string, resources = ['mysqld']): string {
  return agentUserData({ brokerUrl: bus.url, exchange, assemblyId, resources, monitorIntervalMs: 2_000 });
}

/** Creates a VM (with an agent unless `agent` is false) and lets it build. */
function launch(options: { agent?: boolean } = {}): { vmId: string; assemblyId: string } {
  const assemblyId = randomUUID();
  const [vm] = ec2.create({ name: 'db', imageId: ec2.images[0]?.id ?? '', flavorId: 't3.micro', userData: options.agent === false ? null : userData(assemblyId) });
  if (!vm) throw new Error('no VM created');
  clock.advance(testTimings.build);
  return { vmId: vm.id, assemblyId };
}

const beatsOf = (vmId: string): Heartbeat[] => heartbeats.filter((beat) => beat.instanceId === vmId);

/** Advances simulated time by `ms`, then waits until the sentinel's beats up to then have arrived (and so everything published before them). */
async function advance(ms: number): Promise<void> {
  clock.advance(ms);
  const now = clock.now();
  clock.advance(INTERVAL_MS);
  await waitFor(() => (beatsOf(sentinel.vmId).some((beat) => beat.sentAt >= now) ? true : undefined), { what: 'the sentinel heartbeat' });
}

/** Advances simulated time beat by beat until the VM's beats satisfy `done`. */
async function beatUntil(vmId: string, done: (beats: Heartbeat[]) => boolean, what: string): Promise<Heartbeat[]> {
  return waitFor(
    async () => {
      await advance(INTERVAL_MS);
      const beats = beatsOf(vmId);
      return done(beats) ? beats : undefined;
    },
    { what, timeoutMs: 15_000, intervalMs: 1 },
  );
}

function command(assemblyId: string, resource: string, action: Exclude<AgentAction, 'reconfigure' | 'ping'>, overrides: { deadlineMs?: number; issuedAt?: number } = {}) {
  return { kind: 'command', protocol: AGENT_PROTOCOL_VERSION, commandId: randomUUID(), assemblyId, resource, action, issuedAt: overrides.issuedAt ?? clock.now(), deadlineMs: overrides.deadlineMs ?? 60_000 };
}

function send(body: { assemblyId: string }): void {
  channel.publish(exchange, commandRoutingKey(body.assemblyId), signAgentMessage(body, testAgentKey(body.assemblyId)));
}

/**
 * Sends a command until the agent has taken it (its binding may still be on its way to the
 * broker; the agent acts on a command id once), then advances time until the reply comes.
 */
async function roundTrip(vmId: string, body: ReturnType<typeof command>, taken: () => boolean = () => false): Promise<AgentReply> {
  const replyOf = () => replies.find((reply) => reply.commandId === body.commandId);
  await waitFor(
    () => {
      if (replyOf() !== undefined || taken()) return true;
      send(body);
      return undefined;
    },
    { what: `agent on ${vmId} taking the command`, intervalMs: 50 },
  );
  return waitFor(
    async () => {
      const reply = replyOf();
      if (reply) return reply;
      await advance(500);
      return undefined;
    },
    { what: `a reply to ${body.commandId}`, intervalMs: 1 },
  );
}

const resourceState = (vmId: string, name = 'mysqld') => simulator.agents.snapshot(vmId)?.resources.find((resource) => resource.name === name)?.state;

beforeAll(async () => {
  bus = createIsolatedBus();
  exchange = `${bus.prefix}.agents`;
  connection = await amqp.connect(bus.url);
  channel = await connection.createChannel();
  // Declared as the monitor declares it; the agents find it and leave it be.
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, 'heartbeat.#');
  await channel.bindQueue(queue, exchange, 'reply.#');
  await channel.consume(
    queue,
    (message) => {
      if (!message) return;
      const { routingKey } = message.fields;
      try {
        if (routingKey.startsWith('heartbeat.')) heartbeats.push(parseHeartbeat(message.content));
        else replies.push(parseAgentReply(message.content));
      } catch (error) {
        invalid.push({ routingKey, error });
      }
    },
    { noAck: true },
  );
  clock = new ManualClock(Date.UTC(2025, 0, 1));
  simulator = createSimulator({
    clock,
    seed: 'agents-test',
    clouds: [{ name: 'sim-ec2', provider: 'ec2', timings: testTimings }],
    agents: { connectionsPerBroker: 1, timings: agentTimings },
  });
  const cloud = simulator.clouds.get('sim-ec2');
  if (!cloud) throw new Error('no sim-ec2 cloud');
  ec2 = cloud;
  sentinel = launch();
  // The agents' connection comes up in real time; beats before that are lost, as on a network.
  await waitFor(
    () => {
      clock.advance(INTERVAL_MS);
      return beatsOf(sentinel.vmId).length > 0 ? true : undefined;
    },
    { what: 'the first heartbeat', intervalMs: 50 },
  );
});

afterEach(() => {
  expect(invalid).toEqual([]);
});

afterAll(async () => {
  await simulator.stop();
  await connection.close();
  await bus.cleanUp({ exchanges: [exchange], queues: [] });
});

describe('simulated agents over RabbitMQ', () => {
  it('heartbeat with a rising sequence, the cloud addresses and the resources, once the VM runs', async () => {
    const { vmId, assemblyId } = launch();
    const beats = await beatUntil(vmId, (all) => all.length >= 3 && all.at(-1)?.resources[0]?.state === 'running', 'three beats and mysqld running');
    const vm = ec2.require(vmId);
    expect(vm.addresses.map((address) => address.kind).sort()).toEqual(['fixed', 'floating']);
    for (const beat of beats) {
      expect(beat).toMatchObject({ assemblyId, instanceId: vmId, intervalMs: INTERVAL_MS, bootId: beats[0]?.bootId });
      expect(beat.addresses).toEqual(vm.addresses.map((address) => ({ address: address.address, type: address.kind, network: address.network, version: 4 })));
    }
    expect(beats.map((beat) => beat.sequence)).toEqual(beats.map((_, index) => index + 1));
    expect(beats[0]?.resources).toEqual([{ name: 'mysqld', state: 'starting', since: expect.any(Number) as number }]);
    const sentAt = beats.map((beat) => beat.sentAt);
    expect(sentAt.slice(1).map((at, index) => at - (sentAt[index] ?? 0))).toEqual(sentAt.slice(1).map(() => INTERVAL_MS));
  });

  it('reports the new address after an IP change', async () => {
    const { vmId } = launch();
    await beatUntil(vmId, (all) => all.length > 0, 'a first beat');
    const elastic = ec2.allocateFloating();
    ec2.associateFloating(elastic.id, vmId);
    const beats = await beatUntil(vmId, (all) => all.at(-1)?.addresses.some((address) => address.address === elastic.address) ?? false, 'a beat with the elastic address');
    expect(beats.at(-1)?.addresses.filter((address) => address.type === 'floating')).toEqual([{ address: elastic.address, type: 'floating', network: 'default-vpc', version: 4 }]);
  });

  it('restarts its sequence with a new boot id after a reboot', async () => {
    const { vmId } = launch();
    const before = await beatUntil(vmId, (all) => all.length >= 2, 'two beats');
    ec2.request(vmId, 'reboot');
    const after = await beatUntil(vmId, (all) => all.some((beat) => beat.bootId !== before[0]?.bootId), 'a beat from the new boot');
    const rebooted = after.filter((beat) => beat.bootId !== before[0]?.bootId);
    expect(rebooted[0]?.sequence).toBe(1);
    expect(simulator.agents.snapshot(vmId)?.bootId).toBe(rebooted[0]?.bootId);
  });

  it('falls silent when the VM is stopped', async () => {
    const { vmId } = launch();
    await beatUntil(vmId, (all) => all.length > 0, 'a first beat');
    ec2.request(vmId, 'stop');
    clock.advance(testTimings.stop);
    const stoppedAt = clock.now();
    await advance(5 * INTERVAL_MS);
    expect(beatsOf(vmId).filter((beat) => beat.sentAt > stoppedAt)).toEqual([]);
    expect(simulator.agents.snapshot(vmId)).toBeUndefined();
  });

  it('runs no agent on a VM without agent configuration', async () => {
    const { vmId } = launch({ agent: false });
    await advance(5 * INTERVAL_MS);
    expect(beatsOf(vmId)).toEqual([]);
    expect(simulator.agents.snapshot(vmId)).toBeUndefined();
  });

  it('restarts a resource on command and replies with the command id', async () => {
    const { vmId, assemblyId } = launch();
    await beatUntil(vmId, (all) => all.at(-1)?.resources[0]?.state === 'running', 'mysqld running');
    const restart = command(assemblyId, 'mysqld', 'restart');
    const reply = await roundTrip(vmId, restart, () => resourceState(vmId) === 'starting');
    expect(reply).toMatchObject({ commandId: restart.commandId, assemblyId, instanceId: vmId, ok: true, resource: 'mysqld', state: 'running' });
    expect(beatsOf(vmId).some((beat) => beat.resources[0]?.state === 'starting' && beat.sentAt > restart.issuedAt)).toBe(true);
    const after = await beatUntil(vmId, (all) => (all.at(-1)?.sentAt ?? 0) >= reply.completedAt, 'a beat after the reply');
    expect(after.at(-1)?.resources[0]).toMatchObject({ state: 'running', since: reply.completedAt });
  });

  it('answers a command whose deadline has passed as failed, without executing it', async () => {
    const { vmId, assemblyId } = launch();
    await beatUntil(vmId, (all) => all.at(-1)?.resources[0]?.state === 'running', 'mysqld running');
    const stale = command(assemblyId, 'mysqld', 'stop', { issuedAt: clock.now() - 10_000, deadlineMs: 5_000 });
    const reply = await roundTrip(vmId, stale);
    expect(reply).toMatchObject({ commandId: stale.commandId, ok: false, state: 'running', error: expect.stringMatching(/deadline/) as string });
    expect(resourceState(vmId)).toBe('running');
  });

  it('fails to restart a resource that will not restart', async () => {
    const { vmId, assemblyId } = launch();
    await beatUntil(vmId, (all) => all.at(-1)?.resources[0]?.state === 'running', 'mysqld running');
    expect(simulator.agents.setResourceFault(vmId, 'mysqld', { kind: 'no-restart' })).toBe(true);
    expect(simulator.agents.crashResource(vmId, 'mysqld')).toBe(true);
    const restart = command(assemblyId, 'mysqld', 'restart');
    const reply = await roundTrip(vmId, restart, () => resourceState(vmId) === 'starting');
    expect(reply).toMatchObject({ commandId: restart.commandId, ok: false, state: 'failed', error: expect.any(String) as string });
    expect(simulator.agents.snapshot(vmId)?.resources).toEqual([{ name: 'mysqld', state: 'failed', fault: 'no-restart' }]);
  });

  it('shows a crashed resource as failed in its beats, and a flapping one failing again after each restart', async () => {
    const { vmId, assemblyId } = launch();
    await beatUntil(vmId, (all) => all.at(-1)?.resources[0]?.state === 'running', 'mysqld running');
    simulator.agents.crashResource(vmId, 'mysqld');
    const crashed = await beatUntil(vmId, (all) => all.at(-1)?.resources[0]?.state === 'failed', 'mysqld failed');
    expect(crashed.at(-1)?.resources[0]?.detail).toMatch(/crash/);
    simulator.agents.setResourceFault(vmId, 'mysqld', { kind: 'flap', failAfterMs: 5_000 });
    const restart = command(assemblyId, 'mysqld', 'restart');
    const reply = await roundTrip(vmId, restart, () => resourceState(vmId) === 'starting');
    expect(reply).toMatchObject({ ok: true, state: 'running' });
    const restartedAt = reply.completedAt;
    const after = await beatUntil(vmId, (all) => all.at(-1)?.resources[0]?.state === 'failed' && (all.at(-1)?.sentAt ?? 0) > restartedAt, 'mysqld failing again');
    const failedAgain = after.at(-1)?.resources[0];
    expect(failedAgain?.since).toBe(restartedAt + 5_000);
  });

  it('loses heartbeats during a partition and resumes after it', async () => {
    const { vmId } = launch();
    const before = await beatUntil(vmId, (all) => all.length > 0, 'a first beat');
    const from = clock.now();
    const until = from + 5_000;
    expect(simulator.agents.partition(vmId, until)).toBe(true);
    expect(simulator.agents.snapshot(vmId)).toMatchObject({ silent: true, partitionedUntil: until });
    const after = await beatUntil(vmId, (all) => all.some((beat) => beat.sentAt >= until), 'a beat after the partition');
    expect(after.filter((beat) => beat.sentAt > from && beat.sentAt < until)).toEqual([]);
    const resumed = after.find((beat) => beat.sentAt >= until);
    expect(resumed?.bootId).toBe(before[0]?.bootId);
    // The beats lost on the way leave a gap in the sequence.
    expect((resumed?.sequence ?? 0) - (before.at(-1)?.sequence ?? 0)).toBeGreaterThanOrEqual(5);
  });

  it('goes silent and leaves commands unanswered while hung, and resumes when healed', async () => {
    const { vmId, assemblyId } = launch();
    await beatUntil(vmId, (all) => all.at(-1)?.resources[0]?.state === 'running', 'mysqld running');
    // One answered command first: proves the agent's command binding is in place.
    await roundTrip(vmId, command(assemblyId, 'mysqld', 'start'));
    expect(simulator.agents.hang(vmId)).toBe(true);
    const hungAt = clock.now();
    const ignored = command(assemblyId, 'mysqld', 'restart');
    send(ignored);
    // The sentinel's command goes through the same queue after it: once answered, the ignored one was delivered.
    await roundTrip(sentinel.vmId, command(sentinel.assemblyId, 'mysqld', 'restart'), () => resourceState(sentinel.vmId) === 'starting');
    await advance(2 * agentTimings.restart);
    expect(beatsOf(vmId).filter((beat) => beat.sentAt > hungAt)).toEqual([]);
    expect(replies.filter((reply) => reply.commandId === ignored.commandId)).toEqual([]);
    expect(resourceState(vmId)).toBe('running');
    expect(simulator.agents.heal(vmId)).toBe(true);
    await beatUntil(vmId, (all) => all.some((beat) => beat.sentAt > hungAt), 'a beat after healing');
    const afterHeal = command(assemblyId, 'mysqld', 'restart');
    expect(await roundTrip(vmId, afterHeal, () => resourceState(vmId) === 'starting')).toMatchObject({ commandId: afterHeal.commandId, ok: true });
  });
});
