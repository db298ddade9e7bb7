/**
 * The EC2 driver against the simulator's EC2 Query API over real HTTP: every operation, paging,
 * status checks, idempotent launches, and a launch whose first answer never came in time. The
 * simulator runs on a manual clock the tests advance; its VM list and API observer are the ground
 * truth ("exactly one VM", "three DescribeInstances calls").
 */
import { randomUUID } from 'node:crypto';
import { CloudLimiter, createCloudCaller, createEc2Driver } from '@defib/clouds';
import type { CloudDriver, LaunchRequest } from '@defib/clouds';
import { AGENT_PROTOCOL_VERSION, ec2RegistrationSchema, encodeAgentConfig } from '@defib/contracts';
import { testAgentKeyText } from '@defib/contracts/testing';
import { createLogger } from '@defib/platform';
import type { Logger } from '@defib/platform';
import { ManualClock } from '@defib/platform/testing';
import { createSimulator, InMemoryAgentNetwork } from '@defib/simulator';
import type { Cloud, Simulator } from '@defib/simulator';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import { cloudFailure as failure } from '@defib/clouds/testing';

const timings = { build: 10_000, reboot: 4_000, hardReboot: 2_000, stop: 3_000, start: 5_000, rebuild: 6_000, delete: 1_000, jitter: 0, deletedRetention: 60_000, statusChecksAfter: 30_000 };

let clock: ManualClock;
let simulator: Simulator;
let cloud: Cloud;
let url: string;
let driver: CloudDriver;
/** The EC2 actions the simulator admitted, in order. */
let calls: string[];

function driverFor(options: { region?: string; pageSize?: number; attemptTimeoutMs?: number; logger?: Logger } = {}): CloudDriver {
  const registration = ec2RegistrationSchema.parse({ provider: 'ec2', endpoint: `${url}/ec2/`, region: options.region ?? 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'sim-secret' } });
  const caller = createCloudCaller({
    cloud: 'sim-ec2',
    limiter: new CloudLimiter({ requestsPerSecond: 1_000, concurrency: 10 }),
    policy: { attemptTimeoutMs: options.attemptTimeoutMs ?? 5_000, initialDelayMs: 20, maxDelayMs: 100, budgetMs: 10_000 },
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return createEc2Driver({ cloud: 'sim-ec2', registration, caller, ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }) });
}

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2025, 0, 1));
  simulator = createSimulator({
    clock,
    seed: 'ec2-driver',
    clouds: [{ name: 'sim-ec2', provider: 'ec2', timings }],
    agents: { network: new InMemoryAgentNetwork(), timings: { agentStart: 0, resourceStart: 0, jitter: 0 }, tickMs: 10 },
  });
  ({ url } = await simulator.start(0));
  cloud = simulator.clouds.get('sim-ec2') as Cloud;
  calls = [];
  cloud.observeApi((operation) => calls.push(operation));
  driver = driverFor();
});
afterEach(async () => {
  driver.close();
  await simulator.stop();
});

function launchRequest(overrides: Partial<LaunchRequest> = {}): LaunchRequest {
  return { actionId: randomUUID(), name: 'db-1', image: 'fedora-40', flavor: 't3.micro', metadata: { assembly: 'db' }, ...overrides };
}

/** Plain-text user data holding an agent configuration, so the simulated guest runs an agent. */
function agentUserData(): string {
  const assemblyId = randomUUID();
  const encoded = encodeAgentConfig({
    protocol: AGENT_PROTOCOL_VERSION,
    brokerUrl: 'amqp://sim',
    exchange: 'defib.agents',
    deployableId: randomUUID(),
    assemblyId,
    key: testAgentKeyText(assemblyId),
    assembly: 'db',
    heartbeatIntervalMs: 1_000,
    resources: [{ name: 'mysqld', monitorIntervalMs: 1_000 }],
  });
  return Buffer.from(encoded, 'base64').toString('utf8');
}

const count = (action: string): number => calls.filter((call) => call === action).length;

describe('ec2 driver: access and offerings', () => {
  it('proves the registration with DescribeRegions', async () => {
    await driver.checkAccess();
    expect(calls).toEqual(['DescribeRegions']);
  });

  it('refuses a region the endpoint does not serve as rejected', async () => {
    const elsewhere = driverFor({ region: 'eu-nowhere-1' });
    const error = await failure(elsewhere.checkAccess());
    elsewhere.close();
    expect(error.kind).toBe('rejected');
    expect(error.message).toBe('cloud sim-ec2: DescribeRegions failed: region "eu-nowhere-1" is not served at ' + `${url}/ec2/`);
  });

  it('offers the account images and the instance types by name', async () => {
    expect(await driver.offerings()).toEqual({ images: ['amazon-linux-2023', 'fedora-40', 'ubuntu-24.04'], flavors: ['m1.small', 'm5.large', 't3.micro', 't3.small'] });
  });
});

describe('ec2 driver: launch and describe', () => {
  it('launches by image name with tags, user data and zone, pending until built, then running', async () => {
    const request = launchRequest({ userData: '#!/bin/sh\necho hi\n', zone: 'us-east-1b' });
    const launched = await driver.launch(request);
    expect(launched).toMatchObject({ name: 'db-1', state: 'pending', cloudStatus: 'pending', zone: 'us-east-1b', actionId: request.actionId });
    expect(launched.metadata).toEqual({ assembly: 'db', 'defib-action': request.actionId, 'defib-managed': 'true', Name: 'db-1' });
    const vm = cloud.get(launched.id);
    expect(vm?.imageId).toBe(cloud.findImage('fedora-40')?.id);
    expect(Buffer.from(vm?.userData ?? '', 'base64').toString('utf8')).toBe('#!/bin/sh\necho hi\n');
    clock.advance(timings.build);
    const running = await driver.describe(launched.id);
    expect(running).toMatchObject({ state: 'running', cloudStatus: 'running', health: { instance: 'initializing', system: 'initializing', details: [] } });
    expect(running.addresses.map((address) => address.type)).toEqual(['fixed', 'floating']);
    clock.advance(timings.statusChecksAfter);
    expect((await driver.describe(launched.id)).health).toEqual({ instance: 'ok', system: 'ok', details: [] });
  });

  it('looks an image name up once and launches an ami- id as it is', async () => {
    await driver.launch(launchRequest());
    await driver.launch(launchRequest());
    await driver.launch(launchRequest({ image: cloud.findImage('ubuntu-24.04')?.id ?? '' }));
    expect(count('DescribeImages')).toBe(1);
    expect(count('RunInstances')).toBe(3);
  });

  it('answers an unknown image name with not-found', async () => {
    const error = await failure(driver.launch(launchRequest({ image: 'windows-95' })));
    expect(error.kind).toBe('not-found');
    expect(cloud.list()).toEqual([]);
  });

  it('answers an id the cloud does not know with not-found', async () => {
    const error = await failure(driver.describe('i-0123456789abcdef0'));
    expect(error).toMatchObject({ kind: 'not-found', code: 'InvalidInstanceID.NotFound', cloud: 'sim-ec2', operation: 'DescribeInstances' });
  });
});

describe('ec2 driver: idempotent launches', () => {
  it('returns the same instance when a launch is retried with the same action id', async () => {
    const request = launchRequest();
    const first = await driver.launch(request);
    const again = await driver.launch(request);
    expect(again.id).toBe(first.id);
    expect(cloud.list()).toHaveLength(1);
  });

  it('refuses the same action id with other parameters as rejected', async () => {
    const request = launchRequest();
    await driver.launch(request);
    const error = await failure(driver.launch({ ...request, flavor: 't3.small' }));
    expect(error).toMatchObject({ kind: 'rejected', code: 'IdempotentParameterMismatch', operation: 'RunInstances' });
    expect(cloud.list()).toHaveLength(1);
  });

  it('creates exactly one VM when the first RunInstances answer never arrives in time', async () => {
    // An hour of API latency on RunInstances (on the simulator's manual clock: until the test
    // advances it). The fault ends the moment the driver gives up on its first attempt, so the
    // retry goes straight through; then the first request, still held, is let through as well.
    const fault = simulator.faults.inject({ kind: 'api-latency', target: { cloud: 'sim-ec2' }, operations: ['RunInstances'], latency: 3_600_000 });
    const onRetry = (line: string): void => {
      if (line.includes('retrying')) simulator.faults.heal(fault.id);
    };
    const impatient = driverFor({ attemptTimeoutMs: 300, logger: createLogger({ service: 'test', level: 'debug', destination: { write: onRetry } }) });
    const launched = await impatient.launch(launchRequest());
    impatient.close();
    expect(count('RunInstances')).toBe(1);
    clock.advance(3_600_000);
    await waitFor(() => (count('RunInstances') === 2 ? true : undefined), { what: 'the delayed RunInstances to be answered' });
    expect(cloud.list().map((vm) => vm.id)).toEqual([launched.id]);
  });
});

describe('ec2 driver: list', () => {
  it('reads 25 instances in pages of 10: three DescribeInstances and three DescribeInstanceStatus calls', async () => {
    const paged = driverFor({ pageSize: 10 });
    const launched = [];
    for (let index = 0; index < 25; index++) launched.push(await paged.launch(launchRequest({ name: `vm-${index}` })));
    cloud.create({ name: 'not-defib', imageId: cloud.images[0]?.id ?? '', flavorId: 't3.micro' });
    clock.advance(timings.build);
    calls = [];
    const listed = await paged.list();
    paged.close();
    expect(listed.map((instance) => instance.id)).toEqual(launched.map((instance) => instance.id));
    expect(listed.every((instance) => instance.state === 'running' && instance.health?.instance === 'initializing')).toBe(true);
    expect(count('DescribeInstances')).toBe(3);
    expect(count('DescribeInstanceStatus')).toBe(3);
  });

  it('shows a hung VM impaired and a VM whose agent is only partitioned ok', async () => {
    const hung = await driver.launch(launchRequest({ name: 'hung', userData: agentUserData() }));
    const partitioned = await driver.launch(launchRequest({ name: 'partitioned', userData: agentUserData() }));
    clock.advance(timings.build + timings.statusChecksAfter);
    simulator.faults.inject({ kind: 'vm-hang', target: { vm: hung.id } });
    simulator.faults.inject({ kind: 'agent-partition', target: { vm: partitioned.id } });
    const byName = new Map((await driver.list()).map((instance) => [instance.name, instance]));
    expect(byName.get('hung')).toMatchObject({ state: 'running', cloudStatus: 'running/instance-impaired', health: { instance: 'impaired', system: 'ok', details: ['reachability'] } });
    expect(byName.get('partitioned')).toMatchObject({ state: 'running', cloudStatus: 'running', health: { instance: 'ok', system: 'ok', details: [] } });
  });

  it('shows a VM whose host failed (and hangs with it) system-impaired', async () => {
    const launched = await driver.launch(launchRequest({ userData: agentUserData() }));
    clock.advance(timings.build + timings.statusChecksAfter);
    simulator.faults.inject({ kind: 'host-failure', target: { cloud: 'sim-ec2', host: cloud.get(launched.id)?.host ?? '' }, mode: 'hang' });
    const [listed] = await driver.list();
    expect(listed).toMatchObject({ state: 'running', cloudStatus: 'running/system+instance-impaired', health: { system: 'impaired', instance: 'impaired', details: ['reachability'] } });
  });

  it('shows terminated instances as terminated until the cloud forgets them', async () => {
    const launched = await driver.launch(launchRequest());
    clock.advance(timings.build);
    await driver.terminate(launched.id);
    clock.advance(timings.delete);
    expect((await driver.list()).map((instance) => [instance.id, instance.state])).toEqual([[launched.id, 'terminated']]);
  });
});

describe('ec2 driver: actions', () => {
  async function runningInstance(): Promise<string> {
    const launched = await driver.launch(launchRequest());
    clock.advance(timings.build);
    return launched.id;
  }

  it('reboots (hard or not) with RebootInstances; EC2 keeps showing running', async () => {
    const id = await runningInstance();
    await driver.reboot(id, { hard: false });
    expect(cloud.get(id)?.state).toEqual({ phase: 'running', task: 'reboot' });
    expect((await driver.describe(id)).state).toBe('running');
    clock.advance(timings.reboot);
    await driver.reboot(id, { hard: true });
    expect(count('RebootInstances')).toBe(2);
  });

  it('stops and starts', async () => {
    const id = await runningInstance();
    await driver.stop(id);
    expect((await driver.describe(id)).state).toBe('stopping');
    clock.advance(timings.stop);
    expect((await driver.describe(id)).state).toBe('stopped');
    await driver.stop(id);
    await driver.start(id);
    expect((await driver.describe(id)).state).toBe('pending');
    clock.advance(timings.start);
    expect((await driver.describe(id)).state).toBe('running');
  });

  it('refuses to reboot a stopped instance as a conflict', async () => {
    const id = await runningInstance();
    await driver.stop(id);
    clock.advance(timings.stop);
    expect(await failure(driver.reboot(id, { hard: false }))).toMatchObject({ kind: 'conflict', code: 'IncorrectInstanceState', operation: 'RebootInstances' });
  });

  it('terminates, and terminating again (or once forgotten) is done', async () => {
    const id = await runningInstance();
    await driver.terminate(id);
    expect((await driver.describe(id)).state).toBe('terminating');
    clock.advance(timings.delete);
    expect((await driver.describe(id)).state).toBe('terminated');
    await driver.terminate(id);
    clock.advance(timings.deletedRetention);
    await driver.terminate(id);
    expect((await failure(driver.describe(id))).kind).toBe('not-found');
  });
});
