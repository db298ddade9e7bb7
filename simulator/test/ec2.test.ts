import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  CreateTagsCommand,
  DescribeAddressesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  DisassociateAddressCommand,
  EC2Client,
  EC2ServiceException,
  RebootInstancesCommand,
  ReleaseAddressCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { DescribeImagesCommandInput, Instance } from '@aws-sdk/client-ec2';
import { XMLParser } from 'fast-xml-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryAgentNetwork } from '../src/agents/in-memory-agent-network.ts';
import { agentUserData, startSimulator, testTimings } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';
import type { SimulatorOptions } from '../src/simulator.ts';

let sim: RunningSimulator;
let ec2: EC2Client;
let imageId: string;

function clientFor(url: string): EC2Client {
  return new EC2Client({ endpoint: `${url}/ec2/`, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'anything' }, maxAttempts: 1 });
}

beforeEach(async () => {
  sim = await startSimulator();
  ec2 = clientFor(sim.url);
  imageId = sim.simulator.clouds.get('sim-ec2')?.images[0]?.id ?? '';
});
afterEach(async () => {
  ec2.destroy();
  await sim.stop();
});

/** Replaces the test's simulator with one built with other options. */
async function restartWith(options: SimulatorOptions): Promise<void> {
  await sim.stop();
  ec2.destroy();
  sim = await startSimulator(options);
  ec2 = clientFor(sim.url);
  imageId = sim.simulator.clouds.get('sim-ec2')?.images[0]?.id ?? '';
}

async function run(count = 1, extra: Partial<ConstructorParameters<typeof RunInstancesCommand>[0]> = {}): Promise<string[]> {
  const result = await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: count, MaxCount: count, ...extra }));
  return (result.Instances ?? []).map((instance) => instance.InstanceId ?? '');
}

async function describe1(id: string): Promise<Instance> {
  const result = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const instance = result.Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Error(`no instance ${id}`);
  return instance;
}

async function running(count = 1): Promise<string[]> {
  const ids = await run(count);
  sim.clock.advance(testTimings.build);
  return ids;
}

/** The SDK's typed error for a call expected to fail. */
async function failure(call: Promise<unknown>): Promise<EC2ServiceException> {
  try {
    await call;
  } catch (error) {
    if (error instanceof EC2ServiceException) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('ec2 RunInstances', () => {
  it('launches pending instances with tags, user data, zone and addresses in one reservation', async () => {
    const userData = Buffer.from('#!/bin/sh\necho hi\n').toString('base64');
    const result = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 't3.small',
        MinCount: 2,
        MaxCount: 2,
        UserData: userData,
        Placement: { AvailabilityZone: 'us-east-1b' },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'assembly', Value: 'db' }, { Key: 'Name', Value: 'db-1' }] }],
      }),
    );
    expect(result.ReservationId).toMatch(/^r-[0-9a-f]{17}$/);
    expect(result.OwnerId).toBe('123456789012');
    expect(result.Instances).toHaveLength(2);
    const [first] = result.Instances ?? [];
    expect(first?.InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(first?.State).toEqual({ Code: 0, Name: 'pending' });
    expect(first?.InstanceType).toBe('t3.small');
    expect(first?.Placement?.AvailabilityZone).toBe('us-east-1b');
    expect(first?.PrivateIpAddress).toMatch(/^172\.31\./);
    expect(first?.Tags).toEqual([{ Key: 'assembly', Value: 'db' }, { Key: 'Name', Value: 'db-1' }]);
    expect(result.Instances?.map((instance) => instance.AmiLaunchIndex)).toEqual([0, 1]);
    expect(sim.simulator.clouds.get('sim-ec2')?.get(first?.InstanceId ?? '')?.userData).toBe(userData);
  });

  it('becomes running with a public address after the build time', async () => {
    const [id = ''] = await run();
    sim.clock.advance(testTimings.build);
    const instance = await describe1(id);
    expect(instance.State).toEqual({ Code: 16, Name: 'running' });
    expect(instance.PublicIpAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(instance.PublicDnsName).toContain('.compute-1.amazonaws.com');
    expect(instance.LaunchTime?.toISOString()).toBe('2025-01-01T00:00:10.000Z');
  });

  it('refuses bad requests with the errors EC2 gives', async () => {
    expect((await failure(ec2.send(new RunInstancesCommand({ ImageId: 'ami-0000000000000000f', MinCount: 1, MaxCount: 1 })))).name).toBe('InvalidAMIID.NotFound');
    expect((await failure(ec2.send(new RunInstancesCommand({ ImageId: 'image', MinCount: 1, MaxCount: 1 })))).name).toBe('InvalidAMIID.Malformed');
    expect((await failure(ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 'x9.huge' as 't3.micro', MinCount: 1, MaxCount: 1 })))).name).toBe('InvalidParameterValue');
    expect((await failure(ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, UserData: 'not base64!' })))).message).toBe('Invalid BASE64 encoding of user data.');
    expect((await failure(ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: 'us-east-1z' } })))).name).toBe('InvalidParameterValue');
    const missing = await failure(ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1 } as never)));
    expect(missing.name).toBe('MissingParameter');
    expect(missing.$metadata.httpStatusCode).toBe(400);
  });
});

describe('ec2 RunInstances with a ClientToken', () => {
  it('answers a repeated token with the same reservation and instance, creating nothing', async () => {
    const request = { ImageId: imageId, InstanceType: 't3.micro' as const, MinCount: 1, MaxCount: 1, ClientToken: 'launch-1' };
    const first = await ec2.send(new RunInstancesCommand(request));
    sim.clock.advance(testTimings.build);
    const again = await ec2.send(new RunInstancesCommand(request));
    expect(again.ReservationId).toBe(first.ReservationId);
    expect(again.Instances?.map((instance) => instance.InstanceId)).toEqual(first.Instances?.map((instance) => instance.InstanceId));
    expect(again.Instances?.[0]?.State?.Name).toBe('running');
    expect(sim.simulator.clouds.get('sim-ec2')?.list()).toHaveLength(1);
  });

  it('shows the token the instance was launched with (the SDK makes one up when none is given)', async () => {
    const [tokened = ''] = await run(1, { ClientToken: 'launch-2' });
    const [plain = ''] = await run(1);
    expect((await describe1(tokened)).ClientToken).toBe('launch-2');
    expect((await describe1(plain)).ClientToken).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses the token with other parameters with IdempotentParameterMismatch', async () => {
    await run(1, { ClientToken: 'launch-3' });
    const mismatch = await failure(ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.small', MinCount: 1, MaxCount: 1, ClientToken: 'launch-3' })));
    expect(mismatch.name).toBe('IdempotentParameterMismatch');
    expect(mismatch.$metadata.httpStatusCode).toBe(400);
    expect(sim.simulator.clouds.get('sim-ec2')?.list()).toHaveLength(1);
  });

  it('keeps a token while its instance is on record and frees it once purged', async () => {
    const [id = ''] = await running(1);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    sim.clock.advance(testTimings.delete);
    expect(await run(1, { ClientToken: id })).toEqual(await run(1, { ClientToken: id }));
    const [terminated = ''] = await run(1, { ClientToken: 'launch-4' });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [terminated] }));
    sim.clock.advance(testTimings.delete);
    expect(await run(1, { ClientToken: 'launch-4' })).toEqual([terminated]);
    sim.clock.advance(testTimings.deletedRetention);
    expect(await run(1, { ClientToken: 'launch-4' })).not.toEqual([terminated]);
  });

  it('refuses a token longer than 64 characters', async () => {
    expect((await failure(ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, ClientToken: 'x'.repeat(65) })))).name).toBe('InvalidParameterValue');
  });
});

describe('ec2 DescribeInstances', () => {
  it('answers unknown ids with InvalidInstanceID.NotFound and malformed ones with InvalidInstanceID.Malformed', async () => {
    const notFound = await failure(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })));
    expect(notFound.name).toBe('InvalidInstanceID.NotFound');
    expect(notFound.message).toBe("The instance ID 'i-0123456789abcdef0' does not exist");
    expect(notFound.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await failure(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['web-1'] })))).name).toBe('InvalidInstanceID.Malformed');
  });

  it('filters on state, id, zone, tag and tag key', async () => {
    const [db = ''] = await run(1, { TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'role', Value: 'db' }] }], Placement: { AvailabilityZone: 'us-east-1a' } });
    const [web = ''] = await run(1, { TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'role', Value: 'web' }] }], Placement: { AvailabilityZone: 'us-east-1b' } });
    const [plain = ''] = await running(1);
    const ids = async (filters: { Name: string; Values: string[] }[]): Promise<string[]> =>
      ((await ec2.send(new DescribeInstancesCommand({ Filters: filters }))).Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []).map((instance) => instance.InstanceId ?? '');
    expect(await ids([{ Name: 'instance-state-name', Values: ['running'] }])).toEqual([db, web, plain]);
    expect(await ids([{ Name: 'tag:role', Values: ['db'] }])).toEqual([db]);
    expect(await ids([{ Name: 'tag:role', Values: ['w*'] }])).toEqual([web]);
    expect(await ids([{ Name: 'tag-key', Values: ['role'] }])).toEqual([db, web]);
    expect(await ids([{ Name: 'instance-id', Values: [plain, web] }])).toEqual([web, plain]);
    expect(await ids([{ Name: 'availability-zone', Values: ['us-east-1b'] }, { Name: 'instance-state-name', Values: ['running', 'pending'] }])).toContain(web);
    expect((await failure(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] })))).name).toBe('InvalidParameterValue');
  });

  it('pages with MaxResults and NextToken', async () => {
    const launched = await run(7);
    const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    const firstIds = (first.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []).map((instance) => instance.InstanceId);
    expect(firstIds).toEqual(launched.slice(0, 5));
    expect(first.NextToken).toBeDefined();
    const second = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: first.NextToken }));
    expect((second.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []).map((instance) => instance.InstanceId)).toEqual(launched.slice(5));
    expect(second.NextToken).toBeUndefined();
    expect((await failure(ec2.send(new DescribeInstancesCommand({ MaxResults: 2 })))).name).toBe('InvalidParameterValue');
  });

  it('keeps terminated instances visible until the retention time passes', async () => {
    const [id = ''] = await running();
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    sim.clock.advance(testTimings.delete);
    expect((await describe1(id)).State).toEqual({ Code: 48, Name: 'terminated' });
    sim.clock.advance(testTimings.deletedRetention);
    expect((await failure(ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })))).name).toBe('InvalidInstanceID.NotFound');
  });
});

describe('ec2 DescribeInstanceStatus', () => {
  it('reports running instances initializing, then ok once status checks pass', async () => {
    const [id = ''] = await running();
    const initializing = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }));
    expect(initializing.InstanceStatuses?.[0]).toMatchObject({ InstanceId: id, InstanceState: { Code: 16, Name: 'running' }, SystemStatus: { Status: 'initializing' }, InstanceStatus: { Status: 'initializing' } });
    sim.clock.advance(testTimings.statusChecksAfter);
    const ok = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }));
    expect(ok.InstanceStatuses?.[0]).toMatchObject({ SystemStatus: { Status: 'ok', Details: [{ Name: 'reachability', Status: 'passed' }] }, InstanceStatus: { Status: 'ok' } });
  });

  it('includes stopped instances only with IncludeAllInstances, as not-applicable', async () => {
    const [id = ''] = await running();
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    sim.clock.advance(testTimings.stop);
    expect((await ec2.send(new DescribeInstanceStatusCommand({}))).InstanceStatuses).toEqual([]);
    const all = await ec2.send(new DescribeInstanceStatusCommand({ IncludeAllInstances: true }));
    expect(all.InstanceStatuses?.[0]).toMatchObject({ InstanceId: id, InstanceState: { Name: 'stopped' }, SystemStatus: { Status: 'not-applicable' } });
  });
});

describe('ec2 status checks', () => {
  const assemblyId = '0b7a3c52-6c1f-4d0e-9a57-1f2e3d4c5b6a';

  beforeEach(async () => {
    await restartWith({ agents: { network: new InMemoryAgentNetwork(), timings: { agentStart: 0, resourceStart: 0, jitter: 0 }, tickMs: 10 } });
  });

  /** A running instance with an agent, past its first status checks. */
  async function checkedWithAgent(): Promise<string> {
    const [id = ''] = await run(1, { UserData: agentUserData({ brokerUrl: 'amqp://sim', exchange: 'defib.agents', assemblyId }), Placement: { AvailabilityZone: 'us-east-1a' } });
    sim.clock.advance(testTimings.build);
    sim.clock.advance(testTimings.statusChecksAfter);
    return id;
  }

  async function statusOf(id: string) {
    return (await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }))).InstanceStatuses?.[0];
  }

  it('fails the instance reachability check of a hung guest', async () => {
    const id = await checkedWithAgent();
    sim.simulator.faults.inject({ kind: 'vm-hang', target: { vm: id } });
    expect(await statusOf(id)).toMatchObject({
      SystemStatus: { Status: 'ok', Details: [{ Name: 'reachability', Status: 'passed' }] },
      InstanceStatus: { Status: 'impaired', Details: [{ Name: 'reachability', Status: 'failed' }] },
    });
  });

  it('fails the system reachability check of an instance whose host failed', async () => {
    const id = await checkedWithAgent();
    const host = sim.simulator.clouds.get('sim-ec2')?.get(id)?.host ?? '';
    sim.simulator.faults.inject({ kind: 'host-failure', target: { cloud: 'sim-ec2', host }, mode: 'hang' });
    expect(await statusOf(id)).toMatchObject({ SystemStatus: { Status: 'impaired', Details: [{ Name: 'reachability', Status: 'failed' }] }, InstanceStatus: { Status: 'impaired' } });
    const impaired = await ec2.send(new DescribeInstanceStatusCommand({ Filters: [{ Name: 'system-status.status', Values: ['impaired'] }] }));
    expect(impaired.InstanceStatuses?.map((status) => status.InstanceId)).toEqual([id]);
  });

  it('passes both checks of an instance whose agent is only partitioned', async () => {
    const id = await checkedWithAgent();
    sim.simulator.faults.inject({ kind: 'agent-partition', target: { vm: id } });
    expect(await statusOf(id)).toMatchObject({ SystemStatus: { Status: 'ok' }, InstanceStatus: { Status: 'ok', Details: [{ Name: 'reachability', Status: 'passed' }] } });
  });

  it('reports initializing until the first checks ran, even for a hung guest', async () => {
    const [id = ''] = await run(1, { UserData: agentUserData({ brokerUrl: 'amqp://sim', exchange: 'defib.agents', assemblyId }) });
    sim.clock.advance(testTimings.build);
    sim.simulator.faults.inject({ kind: 'vm-hang', target: { vm: id } });
    expect(await statusOf(id)).toMatchObject({ SystemStatus: { Status: 'initializing' }, InstanceStatus: { Status: 'initializing', Details: [{ Name: 'reachability', Status: 'initializing' }] } });
  });

  it('pages with MaxResults and NextToken, pending instances included only with IncludeAllInstances', async () => {
    const launched = await running(7);
    const pending = await run(1);
    const first = await ec2.send(new DescribeInstanceStatusCommand({ MaxResults: 5, IncludeAllInstances: true }));
    const second = await ec2.send(new DescribeInstanceStatusCommand({ MaxResults: 5, IncludeAllInstances: true, NextToken: first.NextToken }));
    expect([...(first.InstanceStatuses ?? []), ...(second.InstanceStatuses ?? [])].map((status) => status.InstanceId)).toEqual([...launched, ...pending]);
    expect(second.NextToken).toBeUndefined();
    expect((await ec2.send(new DescribeInstanceStatusCommand({}))).InstanceStatuses?.map((status) => status.InstanceId)).toEqual(launched);
    expect((await failure(ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: launched, MaxResults: 5 })))).name).toBe('InvalidParameterCombination');
  });
});

describe('ec2 DescribeImages', () => {
  const names = async (input: DescribeImagesCommandInput): Promise<string[]> => ((await ec2.send(new DescribeImagesCommand(input))).Images ?? []).map((image) => image.Name ?? '');

  it('filters by name and state, and by owner: the account (self) owns every image', async () => {
    expect(await names({ Filters: [{ Name: 'name', Values: ['fedora-*'] }, { Name: 'state', Values: ['available'] }] })).toEqual(['fedora-40']);
    expect(await names({ Owners: ['self', 'amazon'], Filters: [{ Name: 'name', Values: ['ubuntu-24.04'] }] })).toEqual(['ubuntu-24.04']);
    expect(await names({ Owners: ['amazon'] })).toEqual([]);
    expect((await failure(ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] })))).name).toBe('InvalidParameterValue');
  });
});

describe('ec2 DescribeInstanceTypes and DescribeRegions', () => {
  it('lists the instance types the region offers, in pages', async () => {
    const first = await ec2.send(new DescribeInstanceTypesCommand({ MaxResults: 5 }));
    expect(first.InstanceTypes?.map((type) => type.InstanceType)).toEqual(['t3.micro', 't3.small', 'm5.large', 'm1.small']);
    expect(first.InstanceTypes?.[0]).toMatchObject({ VCpuInfo: { DefaultVCpus: 2 }, MemoryInfo: { SizeInMiB: 1024 } });
    expect(first.NextToken).toBeUndefined();
    expect((await failure(ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['x9.huge' as 't3.micro'] })))).name).toBe('InvalidParameterValue');
  });

  it('lists the regions and refuses one it does not serve', async () => {
    expect((await ec2.send(new DescribeRegionsCommand({ RegionNames: ['us-east-1'] }))).Regions).toEqual([{ RegionName: 'us-east-1', Endpoint: 'ec2.us-east-1.amazonaws.com', OptInStatus: 'opt-in-not-required' }]);
    expect((await failure(ec2.send(new DescribeRegionsCommand({ RegionNames: ['eu-nowhere-1'] })))).name).toBe('InvalidParameterValue');
  });
});

describe('ec2 state changes', () => {
  it('stops, starts, reboots and terminates with previous and current states', async () => {
    const [id = ''] = await running();
    const stopped = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(stopped.StoppingInstances).toEqual([{ InstanceId: id, PreviousState: { Code: 16, Name: 'running' }, CurrentState: { Code: 64, Name: 'stopping' } }]);
    sim.clock.advance(testTimings.stop);
    expect((await describe1(id)).State?.Name).toBe('stopped');
    const started = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(started.StartingInstances?.[0]).toMatchObject({ PreviousState: { Code: 80, Name: 'stopped' }, CurrentState: { Code: 0, Name: 'pending' } });
    sim.clock.advance(testTimings.start);
    await ec2.send(new RebootInstancesCommand({ InstanceIds: [id] }));
    expect((await describe1(id)).State?.Name).toBe('running');
    const terminated = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(terminated.TerminatingInstances?.[0]).toMatchObject({ PreviousState: { Name: 'running' }, CurrentState: { Code: 32, Name: 'shutting-down' } });
  });

  it('accepts stopping a stopped instance without change', async () => {
    const [id = ''] = await running();
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    sim.clock.advance(testTimings.stop);
    const again = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(again.StoppingInstances?.[0]).toMatchObject({ PreviousState: { Name: 'stopped' }, CurrentState: { Name: 'stopped' } });
  });

  it('refuses to reboot a stopped instance or start a stopping one with IncorrectInstanceState', async () => {
    const [id = ''] = await running();
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    const starting = await failure(ec2.send(new StartInstancesCommand({ InstanceIds: [id] })));
    expect(starting.name).toBe('IncorrectInstanceState');
    expect(starting.message).toBe(`The instance '${id}' is not in a state from which it can be started.`);
    sim.clock.advance(testTimings.stop);
    expect((await failure(ec2.send(new RebootInstancesCommand({ InstanceIds: [id] })))).name).toBe('IncorrectInstanceState');
  });

  it('refuses to stop a terminated instance', async () => {
    const [id = ''] = await running();
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    sim.clock.advance(testTimings.delete);
    expect((await failure(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })))).name).toBe('IncorrectInstanceState');
  });

  it('adds tags with CreateTags', async () => {
    const [id = ''] = await run();
    await ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'assembly', Value: 'web' }] }));
    expect((await describe1(id)).Tags).toEqual([{ Key: 'assembly', Value: 'web' }]);
  });
});

describe('ec2 elastic addresses', () => {
  it('allocates, associates, describes, disassociates and releases an address', async () => {
    const [id = ''] = await running();
    const allocated = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    expect(allocated.AllocationId).toMatch(/^eipalloc-[0-9a-f]{17}$/);
    expect(allocated.Domain).toBe('vpc');
    const associated = await ec2.send(new AssociateAddressCommand({ AllocationId: allocated.AllocationId, InstanceId: id }));
    expect(associated.AssociationId).toMatch(/^eipassoc-[0-9a-f]{17}$/);
    expect((await describe1(id)).PublicIpAddress).toBe(allocated.PublicIp);
    const described = await ec2.send(new DescribeAddressesCommand({ AllocationIds: [allocated.AllocationId ?? ''] }));
    expect(described.Addresses?.[0]).toMatchObject({ PublicIp: allocated.PublicIp, InstanceId: id, AssociationId: associated.AssociationId, Domain: 'vpc' });
    expect((await failure(ec2.send(new ReleaseAddressCommand({ AllocationId: allocated.AllocationId })))).name).toBe('InvalidIPAddress.InUse');
    await ec2.send(new DisassociateAddressCommand({ AssociationId: associated.AssociationId }));
    expect((await describe1(id)).PublicIpAddress).not.toBe(allocated.PublicIp);
    await ec2.send(new ReleaseAddressCommand({ AllocationId: allocated.AllocationId }));
    expect((await ec2.send(new DescribeAddressesCommand({}))).Addresses).toEqual([]);
  });

  it('refuses to move an associated address without AllowReassociation', async () => {
    const [a = '', b = ''] = await running(2);
    const { AllocationId } = await ec2.send(new AllocateAddressCommand({}));
    await ec2.send(new AssociateAddressCommand({ AllocationId, InstanceId: a }));
    expect((await failure(ec2.send(new AssociateAddressCommand({ AllocationId, InstanceId: b })))).name).toBe('Resource.AlreadyAssociated');
    await ec2.send(new AssociateAddressCommand({ AllocationId, InstanceId: b, AllowReassociation: true }));
    expect((await describe1(b)).PublicIpAddress).toBeDefined();
  });

  it('answers unknown allocation and association ids with their NotFound errors', async () => {
    expect((await failure(ec2.send(new ReleaseAddressCommand({ AllocationId: 'eipalloc-00000000000000000' })))).name).toBe('InvalidAllocationID.NotFound');
    expect((await failure(ec2.send(new DisassociateAddressCommand({ AssociationId: 'eipassoc-00000000000000000' })))).name).toBe('InvalidAssociationID.NotFound');
  });
});

describe('ec2 query protocol', () => {
  it('answers GET query-string requests in the 2016-11-15 namespace with requestId and x-amzn-RequestId', async () => {
    const response = await fetch(`${sim.url}/ec2/?Action=DescribeInstances&Version=2016-11-15`);
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-amzn-RequestId');
    const xml = await response.text();
    expect(xml).toContain('<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">');
    const parsed = new XMLParser().parse(xml) as { DescribeInstancesResponse: { requestId: string } };
    expect(parsed.DescribeInstancesResponse.requestId).toBe(requestId);
  });

  it('answers unknown and missing actions and bad parameters with EC2 error XML', async () => {
    const unknown = await fetch(`${sim.url}/ec2/`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'Action=LaunchRockets&Version=2016-11-15' });
    expect(unknown.status).toBe(400);
    const parsed = new XMLParser().parse(await unknown.text()) as { Response: { Errors: { Error: { Code: string; Message: string } }; RequestID: string } };
    expect(parsed.Response.Errors.Error).toEqual({ Code: 'InvalidAction', Message: 'The action LaunchRockets is not valid for this web service.' });
    expect(parsed.Response.RequestID).toBe(unknown.headers.get('x-amzn-RequestId'));
    expect((await fetch(`${sim.url}/ec2/`)).status).toBe(400);
    const missing = await fetch(`${sim.url}/ec2/?Action=StopInstances`);
    expect(await missing.text()).toContain('<Code>MissingParameter</Code>');
  });

  it('throttles beyond the rate limit with 503 RequestLimitExceeded', async () => {
    await sim.stop();
    sim = await startSimulator({ clouds: [{ name: 'sim-ec2', provider: 'ec2', rateLimit: { perSecond: 1, burst: 1 } }] });
    ec2.destroy();
    ec2 = clientFor(sim.url);
    await ec2.send(new DescribeInstancesCommand({}));
    const throttled = await failure(ec2.send(new DescribeInstancesCommand({})));
    expect(throttled.name).toBe('RequestLimitExceeded');
    expect(throttled.$metadata.httpStatusCode).toBe(503);
  });

  it('picks the EC2 region from the signature scope', async () => {
    await sim.stop();
    sim = await startSimulator({
      clouds: [
        { name: 'east', provider: 'ec2', region: 'us-east-1' },
        { name: 'west', provider: 'ec2', region: 'us-west-2', zones: [{ name: 'us-west-2a', hosts: ['w1'] }] },
      ],
    });
    const west = new EC2Client({ endpoint: `${sim.url}/ec2/`, region: 'us-west-2', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const image = sim.simulator.clouds.get('west')?.images[0]?.id ?? '';
    const result = await west.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
    expect(result.Instances?.[0]?.Placement?.AvailabilityZone).toBe('us-west-2a');
    west.destroy();
  });
});
