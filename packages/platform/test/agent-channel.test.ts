/**
 * The agent channel on the real RabbitMQ, with the test playing the agents over a plain amqplib
 * connection. Messages from one channel arrive in the order they were sent, so once a sentinel
 * heartbeat sent last has been handed over, everything sent before it has been judged: counts are
 * facts, not guesses after a sleep.
 */
import { randomUUID } from 'node:crypto';
import { commandRoutingKey, heartbeatRoutingKey, parseAgentCommand, replyRoutingKey, signAgentMessage, verifyAgentMessage } from '@defib/contracts';
import type { AgentKey, Heartbeat, Unsigned } from '@defib/contracts';
import { TEST_AGENT_SECRET, testAgentKey } from '@defib/contracts/testing';
import amqp from 'amqplib';
import type { Channel } from 'amqplib';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedBus, startTcpProxy, waitFor } from '../../../test/support/index.ts';
import type { IsolatedBus, TcpProxy } from '../../../test/support/index.ts';
import { AgentChannel, AgentCommandError } from '../src/agent-channel.ts';
import { busNames, busTopology } from '../src/bus.ts';
import { createLogger } from '../src/logger.ts';

const logger = createLogger({ service: 'agent-channel-test', level: 'silent' });
const CONSUMER = 'spec';

let isolated: IsolatedBus;
let proxy: TcpProxy;
let registry: Registry;
let agents: AgentChannel;
let exchange: string;
let connection: Awaited<ReturnType<typeof amqp.connect>>;
/** The test's agents' channel. */
let wire: Channel;
const heartbeats: Heartbeat[] = [];
const strangers = new Set<string>();

/** A simulated agent's heartbeats: fresh, rising sequence numbers, signed with `key`. */
function beater(assemblyId: string, key: AgentKey = testAgentKey(assemblyId)) {
  const bootId = randomUUID();
  let sequence = 0;
  const body = (overrides: Partial<Heartbeat> = {}): Unsigned<Heartbeat> => ({
    kind: 'heartbeat',
    protocol: 1,
    assemblyId,
    deployableId: randomUUID(),
    instanceId: `i-${assemblyId.slice(0, 8)}`,
    bootId,
    sequence: ++sequence,
    sentAt: Date.now(),
    intervalMs: 1_000,
    addresses: [{ address: '10.0.0.5', type: 'fixed', network: 'private', version: 4 }],
    resources: [{ name: 'mysqld', state: 'running' }],
    ...overrides,
  });
  return {
    signed: (overrides: Partial<Heartbeat> = {}) => signAgentMessage(body(overrides), key),
    send(bytes: Buffer): void {
      wire.publish(exchange, heartbeatRoutingKey(assemblyId), bytes);
    },
  };
}

/** Sends a good beat from a fresh assembly and waits until it is handed over: everything sent before has been judged. */
async function settle(): Promise<void> {
  const sentinel = randomUUID();
  const agent = beater(sentinel);
  agent.send(agent.signed());
  await waitFor(() => (heartbeats.some((beat) => beat.assemblyId === sentinel) ? true : undefined), { what: 'the sentinel heartbeat' });
}

/** An agent that answers commands for `assemblyId` with the replies `answer` gives, in order (signed with their assembly's key unless a key is given); returns its unbinding. */
async function answering(assemblyId: string, answer: (command: ReturnType<typeof parseAgentCommand>) => (Record<string, unknown> | { reply: Record<string, unknown>; key: AgentKey })[]): Promise<() => Promise<void>> {
  const channel = await connection.createChannel();
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, commandRoutingKey(assemblyId));
  await channel.consume(
    queue,
    (message) => {
      if (message === null || !verifyAgentMessage(message.content, testAgentKey(assemblyId))) return;
      for (const given of answer(parseAgentCommand(message.content))) {
        const { reply, key } = 'key' in given ? (given as { reply: Record<string, unknown>; key: AgentKey }) : { reply: given, key: testAgentKey(assemblyId) };
        channel.publish(exchange, replyRoutingKey(assemblyId), signAgentMessage(reply, key));
      }
    },
    { noAck: true },
  );
  return () => channel.close();
}

beforeAll(async () => {
  isolated = createIsolatedBus();
  proxy = await startTcpProxy(isolated.url);
  registry = new Registry();
  agents = new AgentChannel({
    url: proxy.url,
    prefix: isolated.prefix,
    consumer: CONSUMER,
    connectionName: 'agent-channel-spec',
    logger,
    agentSecret: TEST_AGENT_SECRET,
    knowsAssembly: (assemblyId) => !strangers.has(assemblyId),
    registry,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
  });
  agents.onHeartbeat((heartbeat) => heartbeats.push(heartbeat));
  await agents.start();
  exchange = busNames(isolated.prefix).agentsExchange;
  connection = await amqp.connect(isolated.url);
  wire = await connection.createChannel();
});

afterAll(async () => {
  await agents?.close();
  await connection?.close();
  await proxy?.close();
  await isolated.cleanUp(busTopology(isolated.prefix, [CONSUMER]));
});

describe('agent channel', () => {
  it('is the installation exchange named by busNames', () => {
    expect(agents.exchange).toBe(`${isolated.prefix}.agents`);
  });

  it('hands over signed heartbeats', async () => {
    const assemblyId = randomUUID();
    const agent = beater(assemblyId);
    agent.send(agent.signed());
    agent.send(agent.signed());
    const beats = await waitFor(() => {
      const mine = heartbeats.filter((beat) => beat.assemblyId === assemblyId);
      return mine.length === 2 ? mine : undefined;
    }, { what: 'two heartbeats' });
    expect(beats.map((beat) => beat.sequence)).toEqual([1, 2]);
  });

  it('drops and counts a bad MAC, a replay, a stale beat, an unknown assembly and malformed JSON, and dead-letters the malformed one', async () => {
    const before = agents.rejections;
    const victim = randomUUID();
    const forger = beater(victim, testAgentKey(randomUUID()));
    forger.send(forger.signed());
    const genuine = beater(victim);
    const captured = genuine.signed();
    genuine.send(captured);
    genuine.send(captured);
    genuine.send(genuine.signed({ sentAt: Date.now() - 120_000 }));
    const stranger = randomUUID();
    strangers.add(stranger);
    const outsider = beater(stranger);
    outsider.send(outsider.signed());
    const junk = `{"kind":"heartbeat","nonce":"${randomUUID()}"`;
    wire.publish(exchange, heartbeatRoutingKey(victim), Buffer.from(junk));
    await settle();

    expect(heartbeats.filter((beat) => beat.assemblyId === victim)).toHaveLength(1);
    expect(heartbeats.some((beat) => beat.assemblyId === stranger)).toBe(false);
    const after = agents.rejections;
    expect({
      'bad-mac': after['bad-mac'] - before['bad-mac'],
      replayed: after.replayed - before.replayed,
      stale: after.stale - before.stale,
      'unknown-assembly': after['unknown-assembly'] - before['unknown-assembly'],
      malformed: after.malformed - before.malformed,
    }).toEqual({ 'bad-mac': 1, replayed: 1, stale: 1, 'unknown-assembly': 1, malformed: 1 });
    expect(await registry.getSingleMetricAsString('defib_agent_messages_rejected_total')).toMatch(/kind="heartbeat",reason="bad-mac"} [1-9]/);

    const deadLetters = await connection.createChannel();
    const dead = await waitFor(async () => {
      const message = await deadLetters.get(busNames(isolated.prefix).agentDeadLetterQueue(CONSUMER), { noAck: true });
      return message === false ? undefined : message.content.toString();
    }, { what: 'the malformed heartbeat in the dead-letter queue' });
    expect(dead).toBe(junk);
    await deadLetters.close();
  });

  it("sends a signed command and resolves with the agent's signed reply", async () => {
    const assemblyId = randomUUID();
    const unbind = await answering(assemblyId, (command) => [
      { kind: 'reply', protocol: 1, commandId: command.commandId, assemblyId, instanceId: 'i-1', ok: true, resource: 'mysqld', state: 'running', completedAt: Date.now() },
    ]);
    const commandId = randomUUID();
    const reply = await agents.send({ kind: 'command', protocol: 1, commandId, assemblyId, action: 'restart', resource: 'mysqld', issuedAt: Date.now(), deadlineMs: 10_000 });
    expect(reply).toMatchObject({ commandId, ok: true, state: 'running' });
    await unbind();
  });

  it('pings an agent for its boot, sequence and resources', async () => {
    const assemblyId = randomUUID();
    const unbind = await answering(assemblyId, (command) => [
      { kind: 'reply', protocol: 1, commandId: command.commandId, assemblyId, instanceId: 'i-1', ok: true, action: 'ping', bootId: 'boot-7', sequence: 12, resources: [{ name: 'mysqld', state: 'running' }], completedAt: Date.now() },
    ]);
    expect(await agents.ping(assemblyId)).toMatchObject({ bootId: 'boot-7', sequence: 12, resources: [{ name: 'mysqld', state: 'running' }] });
    await unbind();
  });

  it("ignores, and counts, a reply signed with another assembly's key", async () => {
    const assemblyId = randomUUID();
    const before = agents.rejections['bad-mac'];
    const answer = (commandId: string, state: string) => ({ kind: 'reply', protocol: 1, commandId, assemblyId, instanceId: 'i-1', ok: true, resource: 'mysqld', state, completedAt: Date.now() });
    // The forged reply goes first on the same channel, so it is judged before the genuine one settles the command.
    const unbind = await answering(assemblyId, (command) => [{ reply: answer(command.commandId, 'running'), key: testAgentKey(randomUUID()) }, answer(command.commandId, 'stopped')]);
    const reply = await agents.send({ kind: 'command', protocol: 1, commandId: randomUUID(), assemblyId, action: 'stop', resource: 'mysqld', issuedAt: Date.now(), deadlineMs: 10_000 });
    expect(reply).toMatchObject({ state: 'stopped' });
    expect(agents.rejections['bad-mac']).toBe(before + 1);
    await unbind();
  });

  it('fails a command at once with "no agent listening" when no agent is bound for the assembly, not at its deadline', async () => {
    const assemblyId = randomUUID();
    const failure = await agents.send({ kind: 'command', protocol: 1, commandId: randomUUID(), assemblyId, action: 'restart', resource: 'mysqld', issuedAt: Date.now(), deadlineMs: 600_000 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AgentCommandError);
    expect(failure).toMatchObject({ code: 'no-agent-listening', assemblyId });
  });

  it('fails a command with "reply timeout" when the agent stays silent past the deadline', async () => {
    const assemblyId = randomUUID();
    const unbind = await answering(assemblyId, () => []);
    const failure = await agents.send({ kind: 'command', protocol: 1, commandId: randomUUID(), assemblyId, action: 'restart', resource: 'mysqld', issuedAt: Date.now(), deadlineMs: 60_000 }, { timeoutMs: 200 }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'AgentCommandError', code: 'reply-timeout' });
    await unbind();
  });

  it('reconnects after losing the broker connection and hands over heartbeats again', async () => {
    proxy.cut();
    await waitFor(() => (agents.connected ? undefined : true), { what: 'the channel to notice the lost connection' });
    await waitFor(() => (agents.connected ? true : undefined), { what: 'the channel to reconnect' });
    await settle();
  });
});
