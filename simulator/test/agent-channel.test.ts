/**
 * The simulated agents against the platform's AgentChannel, as the monitor and recovery will meet
 * them: over the real RabbitMQ, on the installation's `<prefix>.agents` exchange, every message
 * signed with the key the VM got in its user data. Simulated time is a ManualClock shared by the
 * simulator and the channel (freshness is judged on the clock the beats were sent by).
 */
import { randomUUID } from 'node:crypto';
import type { AgentReply, Heartbeat } from '@defib/contracts';
import { TEST_AGENT_SECRET } from '@defib/contracts/testing';
import { AgentChannel, AgentCommandError, busTopology, createLogger } from '@defib/platform';
import { ManualClock } from '@defib/platform/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedBus, waitFor } from '../../test/support/index.ts';
import type { IsolatedBus } from '../../test/support/index.ts';
import type { Cloud } from '../src/cloud/cloud.ts';
import { createSimulator } from '../src/simulator.ts';
import type { Simulator } from '../src/simulator.ts';
import { agentUserData, beatUntil, testTimings } from './support/simulator-harness.ts';

const CONSUMER = 'monitor-spec';
let bus: IsolatedBus;
let clock: ManualClock;
let channel: AgentChannel;
let simulator: Simulator;
let cloud: Cloud;
const heartbeats: Heartbeat[] = [];

function launch(): { vmId: string; assemblyId: string } {
  const assemblyId = randomUUID();
  const userData = agentUserData({ brokerUrl: bus.url, exchange: channel.exchange, assemblyId });
  const [vm] = cloud.create({ name: 'db', imageId: cloud.images[0]?.id ?? '', flavorId: '1', userData });
  if (!vm) throw new Error('no VM created');
  clock.advance(testTimings.build);
  return { vmId: vm.id, assemblyId };
}

beforeAll(async () => {
  bus = createIsolatedBus();
  clock = new ManualClock(Date.UTC(2025, 0, 1));
  const logger = createLogger({ service: 'test', level: 'silent' });
  channel = new AgentChannel({ url: bus.url, prefix: bus.prefix, consumer: CONSUMER, connectionName: 'agent-channel-simulator-spec', logger, agentSecret: TEST_AGENT_SECRET, clock });
  channel.onHeartbeat((heartbeat) => heartbeats.push(heartbeat));
  await channel.start();
  simulator = createSimulator({
    clock,
    seed: 'agent-channel',
    clouds: [{ name: 'sim-openstack', provider: 'openstack', timings: testTimings }],
    agents: { connectionsPerBroker: 1, timings: { agentStart: 0, resourceStart: 1_000, restart: 1_000, jitter: 0 } },
  });
  const found = simulator.clouds.get('sim-openstack');
  if (!found) throw new Error('no cloud');
  cloud = found;
});

afterAll(async () => {
  await simulator?.stop();
  await channel?.close();
  await bus.cleanUp(busTopology(bus.prefix, [CONSUMER]));
});

describe('simulated agents and the agent channel', () => {
  it('accept every signed heartbeat, ping and command of each other, and reject none', async () => {
    const { vmId, assemblyId } = launch();
    await beatUntil(clock, () => (heartbeats.filter((beat) => beat.assemblyId === assemblyId).length >= 3 ? true : undefined), 'three heartbeats through the channel');

    const pong = await waitFor(
      async () => {
        // The agent's binding may still be on its way to the broker right after boot.
        const answer = await channel.ping(assemblyId, { timeoutMs: 5_000 }).catch((error: unknown) => {
          if (error instanceof AgentCommandError && error.code === 'no-agent-listening') return undefined;
          throw error;
        });
        return answer;
      },
      { what: 'a ping answered', intervalMs: 50 },
    );
    const snapshot = simulator.agents.snapshot(vmId);
    expect(pong).toMatchObject({ assemblyId, instanceId: vmId, bootId: snapshot?.bootId, resources: [{ name: 'mysqld', state: 'running' }] });

    let reply: AgentReply | undefined;
    void channel.send({ kind: 'command', protocol: 1, commandId: randomUUID(), assemblyId, action: 'restart', resource: 'mysqld', issuedAt: clock.now(), deadlineMs: 60_000 }).then((answer) => (reply = answer));
    await beatUntil(clock, () => reply, 'the reply to a restart');
    expect(reply).toMatchObject({ ok: true, resource: 'mysqld', state: 'running' });
    expect(channel.rejections).toEqual({ malformed: 0, 'unknown-assembly': 0, 'bad-mac': 0, replayed: 0, stale: 0 });
    expect(simulator.agents.rejectedCommands).toEqual({ 'bad-mac': 0, malformed: 0 });
  });

  it('answer "no agent listening" at once for an assembly whose VM runs no agent', async () => {
    const failure = await channel.ping(randomUUID(), { timeoutMs: 600_000 }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'AgentCommandError', code: 'no-agent-listening' });
  });
});
