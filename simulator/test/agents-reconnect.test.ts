/**
 * The agents' broker connection dropping under them: they reach RabbitMQ through a TCP proxy the
 * test can cut, and must come back by themselves (beats and commands), losing only what was sent
 * while the link was down.
 */
import { randomUUID } from 'node:crypto';
import { AGENT_PROTOCOL_VERSION, commandRoutingKey, parseAgentReply, parseHeartbeat, signAgentMessage } from '@defib/contracts';
import { testAgentKey } from '@defib/contracts/testing';
import type { AgentReply, Heartbeat } from '@defib/contracts';
import { createLogger } from '@defib/platform';
import amqp from 'amqplib';
import type { Channel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedBus, startTcpProxy, waitFor } from '../../test/support/index.ts';
import type { IsolatedBus, TcpProxy } from '../../test/support/index.ts';
import { AmqpAgentNetwork } from '../src/agents/amqp-agent-network.ts';
import { ManualClock } from '@defib/platform/testing';
import { createSimulator } from '../src/simulator.ts';
import type { Simulator } from '../src/simulator.ts';
import { agentUserData, beatUntil, testTimings } from './support/simulator-harness.ts';

let bus: IsolatedBus;
let exchange: string;
let proxy: TcpProxy;
let connection: Awaited<ReturnType<typeof amqp.connect>>;
let channel: Channel;
let clock: ManualClock;
let network: AmqpAgentNetwork;
let simulator: Simulator;
const heartbeats: Heartbeat[] = [];
const replies: AgentReply[] = [];

beforeAll(async () => {
  bus = createIsolatedBus();
  exchange = `${bus.prefix}.agents`;
  proxy = await startTcpProxy(bus.url);
  connection = await amqp.connect(bus.url);
  channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, '#');
  await channel.consume(
    queue,
    (message) => {
      if (!message) return;
      if (message.fields.routingKey.startsWith('heartbeat.')) heartbeats.push(parseHeartbeat(message.content));
      else if (message.fields.routingKey.startsWith('reply.')) replies.push(parseAgentReply(message.content));
    },
    { noAck: true },
  );
  clock = new ManualClock(Date.UTC(2025, 0, 1));
  network = new AmqpAgentNetwork({ logger: createLogger({ service: 'test', level: 'silent' }), connectionsPerBroker: 1, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
  simulator = createSimulator({
    clock,
    seed: 'agents-reconnect',
    clouds: [{ name: 'sim-openstack', provider: 'openstack', timings: testTimings }],
    agents: { network, timings: { agentStart: 0, resourceStart: 1_000, restart: 1_000, jitter: 0 } },
  });
});

afterAll(async () => {
  await simulator.stop();
  await proxy.close();
  await connection.close();
  await bus.cleanUp({ exchanges: [exchange], queues: [] });
});

describe('simulated agents when the broker connection drops', () => {
  it('reconnect by themselves: beats resume, and commands reach them again', async () => {
    const cloud = simulator.clouds.get('sim-openstack');
    if (!cloud) throw new Error('no cloud');
    const assemblyId = randomUUID();
    const userData = agentUserData({ brokerUrl: proxy.url, exchange, assemblyId });
    cloud.create({ name: 'db', imageId: cloud.images[0]?.id ?? '', flavorId: '1', userData });
    clock.advance(testTimings.build);
    await beatUntil(clock, () => (heartbeats.length > 0 ? true : undefined), 'a first heartbeat');
    expect(network.connectionCount()).toEqual({ open: 1, total: 1, established: 1 });
    expect(network.isConnected(proxy.url)).toBe(true);
    expect(simulator.agents.unreachableBrokers()).toEqual([]);

    proxy.cut();
    const cutAt = clock.now();
    await waitFor(() => (network.connectionCount().established === 2 ? true : undefined), { what: 'the agents reconnecting' });
    const resumed = await beatUntil(clock, () => heartbeats.find((beat) => beat.sentAt > cutAt), 'a heartbeat after reconnecting');
    expect(resumed.bootId).toBe(heartbeats[0]?.bootId);
    expect(simulator.agents.unreachableBrokers()).toEqual([]);

    const commandId = randomUUID();
    const body = signAgentMessage({ kind: 'command', protocol: AGENT_PROTOCOL_VERSION, commandId, assemblyId, resource: 'mysqld', action: 'restart', issuedAt: clock.now(), deadlineMs: 600_000 }, testAgentKey(assemblyId));
    // Resent until taken: the binding is made again right after the reconnection, maybe not yet.
    const reply = await waitFor(
      () => {
        const answer = replies.find((candidate) => candidate.commandId === commandId);
        if (answer) return answer;
        channel.publish(exchange, commandRoutingKey(assemblyId), body);
        clock.advance(1_000);
        return undefined;
      },
      { what: 'a reply after reconnecting', intervalMs: 50 },
    );
    expect(reply).toMatchObject({ ok: true, state: 'running' });
  });
});
