/**
 * Recovery's hands against real parts: the simulator's OpenStack and EC2 clouds in-process, their
 * in-guest agents over the real RabbitMQ (an isolated bus prefix), the real cloud drivers and a
 * real AgentChannel. VMs are launched with the agent configuration recovery writes; faults go
 * through the simulator's control API; what really ran is read from the simulator's timeline.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cloudDriverFactory, type CloudInstance } from '@defib/clouds';
import { cloudRegistrationSchema, validateManifest, type CloudRegistrationInput } from '@defib/contracts';
import { AgentChannel, busTopology, createLogger, RealClock } from '@defib/platform';
import { createSimulator, type Simulator } from '@defib/simulator';
import { agentConfigFor, FenceUnconfirmed, RecoveryHands, VerificationFailed, type HandsOptions } from '@defib/recovery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clouds } from '../monitor/monitor-world.ts';
import { createIsolatedBus, waitFor, type IsolatedBus } from '../support/index.ts';

const CONSUMER = 'recovery';
/** Fast clouds: VMs build in half a second, deletes take a fifth. */
const timings = { build: 500, reboot: 500, hardReboot: 300, stop: 300, start: 500, rebuild: 500, delete: 200, jitter: 0, deletedRetention: 60_000, statusChecksAfter: 500 };
const settings = { bootTimeoutMs: 8_000, commandTimeoutMs: 3_000, verifyIntervalMs: 100, fenceTimeoutMs: 5_000 } satisfies Partial<HandsOptions>;
const quiet = createLogger({ service: 'hands-test', level: 'silent' });

let bus: IsolatedBus;
let simulator: Simulator;
let simulatorUrl: string;
let channel: AgentChannel;
let drivers: ReturnType<typeof cloudDriverFactory>;
let hands: RecoveryHands;
const agentSecret = randomBytes(32);

function handsWith(overrides: Partial<HandsOptions> = {}): RecoveryHands {
  return new RecoveryHands({ driverFor: (cloud) => Promise.resolve(driverOf(cloud)), agents: channel, clock: new RealClock(), logger: quiet, ...settings, ...overrides });
}

function driverOf(cloud: string) {
  const registration = clouds[cloud] as CloudRegistrationInput;
  const endpoint = registration.provider === 'openstack' ? { authUrl: `${simulatorUrl}/identity/v3` } : { endpoint: `${simulatorUrl}/ec2/` };
  return drivers(cloud, cloudRegistrationSchema.parse({ ...registration, ...endpoint }));
}

interface Launched {
  cloud: string;
  deployableId: string;
  assemblyId: string;
  actionId: string;
  instance: CloudInstance;
  order: Parameters<RecoveryHands['launch']>[1];
}

/** Launches a one-assembly deployable `db` running `mysqld`, through the hands, with recovery's agent configuration. */
async function launchDb(cloud: string): Promise<Launched> {
  const validation = validateManifest({
    apiVersion: 'defib/v1',
    kind: 'Deployable',
    name: 'shop',
    cloud,
    assemblies: [{ name: 'db', image: 'fedora-40', flavor: 'm1.small', heartbeat: { interval: '500ms' }, resources: [{ name: 'mysqld', params: { MODE: 'primary' } }] }],
  });
  if (!validation.ok) throw new Error(JSON.stringify(validation.issues));
  const [assembly] = validation.manifest.assemblies;
  if (assembly === undefined) throw new Error('no assembly');
  const deployableId = randomUUID();
  const assemblyId = randomUUID();
  const { userData } = agentConfigFor({ brokerUrl: bus.url, exchange: channel.exchange, agentSecret, deployableId, assemblyId, assembly, addressesOf: () => undefined });
  const order = { actionId: randomUUID(), name: `shop-db-${assemblyId.slice(0, 8)}`, image: assembly.image, flavor: assembly.flavor, userData, deployableId, assemblyId, tags: { team: 'data' } };
  const instance = await hands.launch(cloud, order);
  return { cloud, deployableId, assemblyId, actionId: order.actionId, instance, order };
}

async function fault(spec: object): Promise<string> {
  const response = await fetch(`${simulatorUrl}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  if (response.status !== 201) throw new Error(`fault refused: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

async function heal(faultId: string): Promise<void> {
  const response = await fetch(`${simulatorUrl}/_sim/faults/${faultId}`, { method: 'DELETE' });
  if (response.status !== 200) throw new Error(`heal refused: ${response.status}`);
}

/** Whether the simulator's ground truth shows the VM running now. */
function runsNow(assemblyId: string, vmId: string): boolean {
  const history = simulator.timeline.assemblies({ assembly: assemblyId })[0];
  return history?.intervals.some((interval) => interval.vmId === vmId && interval.end === null) ?? false;
}

beforeAll(async () => {
  bus = createIsolatedBus();
  simulator = createSimulator({
    seed: `hands-${randomUUID()}`,
    clouds: [
      { name: 'sim-openstack', provider: 'openstack', timings },
      { name: 'sim-ec2', provider: 'ec2', timings },
    ],
    agents: { connectionsPerBroker: 1, timings: { agentStart: 100, resourceStart: 100, restart: 200, start: 200, stop: 100, reconfigure: 100, jitter: 0 } },
  });
  simulatorUrl = (await simulator.start(0, '127.0.0.1')).url;
  // Short retry budgets, so a call into an outage gives up within a test's patience.
  drivers = cloudDriverFactory({ logger: quiet, policy: { attemptTimeoutMs: 1_000, initialDelayMs: 50, maxDelayMs: 200, budgetMs: 3_000 } });
  channel = new AgentChannel({ url: bus.url, prefix: bus.prefix, consumer: CONSUMER, connectionName: 'recovery-hands-test', logger: quiet, agentSecret });
  await channel.start();
  hands = handsWith();
});

afterAll(async () => {
  drivers?.close();
  await simulator?.stop();
  await channel?.close();
  await bus?.cleanUp(busTopology(bus.prefix, [CONSUMER]));
});

describe('recovery hands', () => {
  describe.each(['sim-openstack', 'sim-ec2'])('on %s', (cloud) => {
    it('launches a VM whose agent then answers from that very instance', async () => {
      const db = await launchDb(cloud);
      expect(db.instance.metadata).toMatchObject({ 'defib-deployable': db.deployableId, 'defib-assembly': db.assemblyId, team: 'data' });
      const reply = await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
      expect(reply).toMatchObject({ assemblyId: db.assemblyId, instanceId: db.instance.id, resources: [{ name: 'mysqld' }] });
    });

    it('launches one VM for one action id, however often asked', async () => {
      const db = await launchDb(cloud);
      const again = await hands.launch(cloud, db.order);
      expect(again.id).toBe(db.instance.id);
      const ofAssembly = (await driverOf(cloud).list()).filter((instance) => instance.metadata['defib-assembly'] === db.assemblyId);
      expect(ofAssembly.map((instance) => instance.id)).toEqual([db.instance.id]);
    });

    it('proves a soft reboot by an answer from a new boot of the same VM', async () => {
      const db = await launchDb(cloud);
      const before = await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
      await hands.power(cloud, db.instance.id, 'reboot-soft');
      const after = await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id, otherThanBoot: before.bootId });
      expect(after.instanceId).toBe(db.instance.id);
      expect(after.bootId).not.toBe(before.bootId);
    });

    it('starts a stopped VM and hears its agent again; starting a running one counts as done', async () => {
      const db = await launchDb(cloud);
      const before = await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
      await driverOf(cloud).stop(db.instance.id);
      await waitFor(async () => ((await hands.describe(cloud, db.instance.id))?.state === 'stopped' ? true : undefined), { timeoutMs: 5_000, what: 'the VM stopped' });
      await hands.power(cloud, db.instance.id, 'start');
      const after = await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id, otherThanBoot: before.bootId });
      expect(after.bootId).not.toBe(before.bootId);
      await expect(hands.power(cloud, db.instance.id, 'start')).resolves.toBeUndefined();
    });

    it('fences a VM only once the cloud confirms it no longer runs', async () => {
      const db = await launchDb(cloud);
      await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
      expect(runsNow(db.assemblyId, db.instance.id)).toBe(true);
      const fenced = await hands.fence(cloud, db.instance.id);
      expect(fenced).toMatchObject({ action: 'terminate', confirmedBy: expect.stringMatching(/^cloud-(status|gone)$/) as string });
      expect(runsNow(db.assemblyId, db.instance.id)).toBe(false);
      const seen = await hands.describe(cloud, db.instance.id);
      expect(seen === undefined || seen.state === 'terminated').toBe(true);
    });
  });

  it('reports a fence unconfirmed, within its timeout, while the cloud API is down, and confirms it once the API is back', async () => {
    const db = await launchDb('sim-openstack');
    await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
    const impatient = handsWith({ fenceTimeoutMs: 1_500 });
    const outage = await fault({ kind: 'api-outage', target: { cloud: 'sim-openstack' } });
    const startedAt = Date.now();
    try {
      const failure = await impatient.fence('sim-openstack', db.instance.id).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(FenceUnconfirmed);
      expect(Date.now() - startedAt).toBeLessThan(1_500 + 1_000);
      expect(runsNow(db.assemblyId, db.instance.id)).toBe(true);
    } finally {
      await heal(outage);
    }
    await expect(hands.fence('sim-openstack', db.instance.id)).resolves.toMatchObject({ action: 'terminate' });
    expect(runsNow(db.assemblyId, db.instance.id)).toBe(false);
  });

  it('gives up a fence at once when its caller aborts', async () => {
    const db = await launchDb('sim-openstack');
    const outage = await fault({ kind: 'api-outage', target: { cloud: 'sim-openstack' } });
    try {
      const startedAt = Date.now();
      await expect(hands.fence('sim-openstack', db.instance.id, AbortSignal.timeout(300))).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(Date.now() - startedAt).toBeLessThan(1_000);
    } finally {
      await heal(outage);
    }
  });

  it('restarts a crashed resource and sees it running', async () => {
    const db = await launchDb('sim-openstack');
    await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
    await fault({ kind: 'resource-crash', target: { vm: db.instance.id }, resource: 'mysqld' });
    await waitFor(async () => ((await channel.ping(db.assemblyId)).resources[0]?.state === 'failed' ? true : undefined), { what: 'mysqld failed' });
    const commandId = randomUUID();
    const reply = await hands.restartResource(db.assemblyId, 'mysqld', commandId);
    expect(reply).toMatchObject({ ok: true, resource: 'mysqld', state: 'running', commandId, instanceId: db.instance.id });
    // Resent with the same command id (a resumed replica), the agent answers it again without restarting twice.
    await expect(hands.restartResource(db.assemblyId, 'mysqld', commandId)).resolves.toMatchObject({ ok: true, commandId });
  });

  it('calls a restart that leaves the resource failed refused', async () => {
    const db = await launchDb('sim-ec2');
    await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
    await fault({ kind: 'resource-no-restart', target: { vm: db.instance.id }, resource: 'mysqld' });
    const failure = await hands.restartResource(db.assemblyId, 'mysqld', randomUUID()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(VerificationFailed);
    expect(failure).toMatchObject({ code: 'refused', reply: { ok: false, state: 'failed' } });
  });

  it('reconfigures a resource through its agent', async () => {
    const db = await launchDb('sim-openstack');
    await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
    // The simulator's agents apply the parameters but do not show them; the signed reply is the proof.
    const reply = await hands.reconfigure(db.assemblyId, 'mysqld', { MODE: 'replica', PRIMARY_HOST: '10.0.0.9' }, randomUUID());
    expect(reply).toMatchObject({ ok: true, resource: 'mysqld', instanceId: db.instance.id });
  });

  it('does not take an answer from another VM of the assembly for the one it waits for', async () => {
    const db = await launchDb('sim-openstack');
    await hands.awaitAgent(db.assemblyId, { instanceId: db.instance.id });
    const failure = await hands.awaitAgent(db.assemblyId, { instanceId: 'the-replacement' }, { timeoutMs: 400 }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'VerificationFailed', code: 'wrong-instance', reply: { instanceId: db.instance.id } });
  });

  it('times out waiting for an agent nobody runs, and stops waiting when aborted', async () => {
    const silent = randomUUID();
    await expect(hands.awaitAgent(silent, { instanceId: 'i-nowhere' }, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'timeout' });
    await expect(hands.awaitAgent(silent, { instanceId: 'i-nowhere' }, { signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ code: 'aborted' });
  });
});
