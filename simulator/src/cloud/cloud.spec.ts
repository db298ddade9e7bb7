import { describe, expect, it } from 'vitest';
import { ManualClock } from '@defib/platform/testing';
import { SeededRandom } from '@defib/platform';
import { Cloud } from './cloud.ts';
import { resolveCloudConfig } from './cloud-config.ts';
import type { CloudConfigInput } from './cloud-config.ts';
import { CloudError } from './cloud-error.ts';
import type { CloudEvent } from './vm.ts';

const timings = { build: 10_000, reboot: 4_000, hardReboot: 2_000, stop: 3_000, start: 5_000, rebuild: 6_000, delete: 1_000, jitter: 0, deletedRetention: 60_000 };

function buildCloud(input: Partial<CloudConfigInput> & Pick<CloudConfigInput, 'provider'>, options: { seed?: string; speedFactor?: number } = {}): { cloud: Cloud; clock: ManualClock; events: CloudEvent[] } {
  const clock = new ManualClock(0);
  const cloud = new Cloud(resolveCloudConfig({ name: `test-${input.provider}`, timings, ...input }), { clock, random: new SeededRandom(options.seed ?? 'spec'), speedFactor: options.speedFactor ?? 1 });
  const events: CloudEvent[] = [];
  cloud.on((event) => events.push(event));
  return { cloud, clock, events };
}

function launch(cloud: Cloud, count = 1): string[] {
  const image = cloud.images[0]?.id ?? '';
  const flavor = cloud.flavors[0]?.id ?? '';
  return cloud.create({ name: 'web', imageId: image, flavorId: flavor }, count).map((vm) => vm.id);
}

function errorCode(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof CloudError) return error.detail.code;
    throw error;
  }
  return undefined;
}

describe('cloud lifecycle', () => {
  it('builds a VM for the configured time, then runs it', () => {
    const { cloud, clock } = buildCloud({ provider: 'openstack' });
    const [id = ''] = launch(cloud);
    clock.advance(9_999);
    expect(cloud.require(id).state).toEqual({ phase: 'building', task: null });
    clock.advance(1);
    expect(cloud.require(id).state).toEqual({ phase: 'running', task: null });
    expect(cloud.require(id).launchedAt).toBe(10_000);
  });

  it('divides every delay by the speed factor', () => {
    const { cloud, clock } = buildCloud({ provider: 'openstack' }, { speedFactor: 100 });
    const [id = ''] = launch(cloud);
    clock.advance(100);
    expect(cloud.require(id).state.phase).toBe('running');
    cloud.request(id, 'stop');
    clock.advance(30);
    expect(cloud.require(id).state.phase).toBe('stopped');
  });

  it('jitters durations reproducibly from the seed', () => {
    const buildTime = (seed: string): number => {
      const { cloud, clock } = buildCloud({ provider: 'openstack', timings: { ...timings, jitter: 0.5 } }, { seed });
      const [id = ''] = launch(cloud);
      let elapsed = 0;
      while (cloud.require(id).state.phase === 'building') {
        clock.advance(10);
        elapsed += 10;
      }
      return elapsed;
    };
    expect(buildTime('one')).toBe(buildTime('one'));
    expect(buildTime('one')).toBeGreaterThanOrEqual(5_000);
    expect(buildTime('one')).toBeLessThanOrEqual(15_000);
  });

  it('emits an event for creation, for each operation begun and for each finished', () => {
    const { cloud, clock, events } = buildCloud({ provider: 'openstack' });
    const [id = ''] = launch(cloud);
    clock.advance(10_000);
    cloud.request(id, 'reboot');
    clock.advance(4_000);
    const transitions = events.filter((event) => event.type === 'vm.transition').map((event) => `${event.operation ?? '-'}:${event.cause}:${event.to.phase}/${event.to.task ?? ''}`);
    expect(events[0]?.type).toBe('vm.created');
    expect(transitions).toEqual(['build:completed:running/', 'reboot:requested:running/reboot', 'reboot:completed:running/']);
  });

  it('lets a hard reboot supersede a soft one, finishing on the hard reboot time', () => {
    const { cloud, clock } = buildCloud({ provider: 'openstack' });
    const [id = ''] = launch(cloud);
    clock.advance(10_000);
    cloud.request(id, 'reboot');
    clock.advance(1_000);
    cloud.request(id, 'hard-reboot');
    clock.advance(2_000);
    expect(cloud.require(id).state).toEqual({ phase: 'running', task: null });
  });

  it('refuses what the provider refuses with an invalid-state error naming the attribute', () => {
    const { cloud } = buildCloud({ provider: 'openstack' });
    const [id = ''] = launch(cloud);
    try {
      cloud.request(id, 'stop');
      expect.fail('expected a refusal');
    } catch (error) {
      expect(error).toBeInstanceOf(CloudError);
      expect((error as CloudError).detail).toEqual({ code: 'invalid-state', vmId: id, operation: 'stop', attribute: 'vm_state', value: 'building' });
    }
  });

  it('changes no VM when one of several cannot take the operation', () => {
    const { cloud, clock } = buildCloud({ provider: 'ec2' });
    const [first = '', second = ''] = launch(cloud, 2);
    clock.advance(10_000);
    cloud.request(second, 'stop');
    expect(errorCode(() => cloud.requestAll([first, second], 'reboot'))).toBe('invalid-state');
    expect(cloud.require(first).state.task).toBeNull();
  });

  it('keeps deleted VMs on record for the retention time, then purges them', () => {
    const { cloud, clock, events } = buildCloud({ provider: 'ec2' });
    const [id = ''] = launch(cloud);
    cloud.request(id, 'delete');
    clock.advance(1_000);
    expect(cloud.require(id).state.phase).toBe('deleted');
    expect(cloud.require(id).addresses).toEqual([]);
    clock.advance(60_000);
    expect(cloud.get(id)).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ type: 'vm.purged', vmId: id });
  });

  it('forces a phase at once for faults, cancelling the operation in progress', () => {
    const { cloud, clock } = buildCloud({ provider: 'openstack' });
    const [id = ''] = launch(cloud);
    cloud.forcePhase(id, 'error', 'No valid host was found.');
    clock.advance(20_000);
    expect(cloud.require(id).state).toEqual({ phase: 'error', task: null });
    expect(cloud.require(id).fault?.message).toBe('No valid host was found.');
  });
});

describe('cloud placement and identity', () => {
  it('spreads VMs over the least loaded hosts of the requested zone', () => {
    const { cloud } = buildCloud({ provider: 'ec2' });
    const vms = cloud.create({ name: 'web', imageId: cloud.images[0]?.id ?? '', flavorId: 't3.micro', zone: 'us-east-1b' }, 6);
    expect(new Set(vms.map((vm) => vm.zone))).toEqual(new Set(['us-east-1b']));
    const perHost = new Map<string, number>();
    for (const vm of vms) perHost.set(vm.host, (perHost.get(vm.host) ?? 0) + 1);
    expect([...perHost.values()]).toEqual([2, 2, 2]);
    expect(cloud.vmsOnHost(vms[0]?.host ?? '')).toHaveLength(2);
  });

  it('gives the same ids, addresses and hosts for the same seed and requests', () => {
    const snapshot = (): unknown => {
      const { cloud } = buildCloud({ provider: 'openstack' }, { seed: 'replay' });
      launch(cloud, 3);
      return cloud.list().map((vm) => [vm.id, vm.host, vm.addresses]);
    };
    expect(snapshot()).toEqual(snapshot());
  });

  it('starts over identically after a reset', () => {
    const { cloud } = buildCloud({ provider: 'ec2' });
    const first = launch(cloud, 2);
    cloud.reset();
    expect(cloud.list()).toEqual([]);
    expect(launch(cloud, 2)).toEqual(first);
  });

  it('names ids as each provider does', () => {
    expect(launch(buildCloud({ provider: 'ec2' }).cloud)[0]).toMatch(/^i-[0-9a-f]{17}$/);
    expect(launch(buildCloud({ provider: 'openstack' }).cloud)[0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses unknown images, flavors and zones, and creation beyond the quota', () => {
    const { cloud } = buildCloud({ provider: 'openstack', maxInstances: 2 });
    const image = cloud.images[0]?.id ?? '';
    expect(errorCode(() => cloud.create({ name: 'x', imageId: 'nope', flavorId: '1' }))).toBe('unknown-image');
    expect(errorCode(() => cloud.create({ name: 'x', imageId: image, flavorId: '99' }))).toBe('unknown-flavor');
    expect(errorCode(() => cloud.create({ name: 'x', imageId: image, flavorId: '1', zone: 'mars' }))).toBe('unknown-zone');
    expect(errorCode(() => cloud.create({ name: 'x', imageId: image, flavorId: '1' }, 3))).toBe('quota-exceeded');
    expect(cloud.list()).toEqual([]);
  });
});

describe('cloud addresses', () => {
  it('gives EC2 instances a public address while running and a new one after a stop and start', () => {
    const { cloud, clock } = buildCloud({ provider: 'ec2' });
    const [id = ''] = launch(cloud);
    expect(cloud.require(id).addresses.map((address) => address.kind)).toEqual(['fixed']);
    clock.advance(10_000);
    const firstPublic = cloud.require(id).addresses.find((address) => address.kind === 'floating')?.address;
    expect(firstPublic).toBeDefined();
    cloud.request(id, 'stop');
    clock.advance(3_000);
    expect(cloud.require(id).addresses.map((address) => address.kind)).toEqual(['fixed']);
    cloud.request(id, 'start');
    clock.advance(5_000);
    const secondPublic = cloud.require(id).addresses.find((address) => address.kind === 'floating')?.address;
    expect(secondPublic).toBeDefined();
    expect(secondPublic).not.toBe(firstPublic);
  });

  it('moves an allocated floating address between VMs only when reassociation is allowed', () => {
    const { cloud, clock, events } = buildCloud({ provider: 'openstack' });
    const [a = '', b = ''] = launch(cloud, 2);
    clock.advance(10_000);
    const floating = cloud.allocateFloating();
    cloud.associateFloating(floating.id, a);
    expect(cloud.require(a).addresses).toContainEqual(expect.objectContaining({ kind: 'floating', address: floating.address }));
    expect(errorCode(() => cloud.associateFloating(floating.id, b))).toBe('address-in-use');
    cloud.associateFloating(floating.id, b, { allowReassociation: true });
    expect(cloud.require(a).addresses.some((address) => address.kind === 'floating')).toBe(false);
    expect(events.filter((event) => event.type === 'vm.addresses-changed').length).toBeGreaterThanOrEqual(3);
    expect(errorCode(() => cloud.releaseFloating(floating.id))).toBe('address-in-use');
    cloud.disassociateFloating(floating.address);
    cloud.releaseFloating(floating.id);
    expect(cloud.floatingAddresses()).toEqual([]);
  });

  it('keeps an elastic address allocated but unassociated when its instance terminates', () => {
    const { cloud, clock } = buildCloud({ provider: 'ec2' });
    const [id = ''] = launch(cloud);
    clock.advance(10_000);
    const elastic = cloud.allocateFloating();
    cloud.associateFloating(elastic.id, id);
    const publics = cloud.require(id).addresses.filter((address) => address.kind === 'floating');
    expect(publics.map((address) => address.address)).toEqual([elastic.address]);
    cloud.request(id, 'delete');
    clock.advance(1_000);
    expect(cloud.findFloating(elastic.id)).toMatchObject({ vmId: null, associationId: null });
  });
});

describe('cloud api admission', () => {
  it('throttles beyond the rate limit and admits again once the bucket refills', async () => {
    const { cloud, clock } = buildCloud({ provider: 'ec2', rateLimit: { perSecond: 2, burst: 2 } });
    expect(await cloud.admit('DescribeInstances')).toBeUndefined();
    expect(await cloud.admit('DescribeInstances')).toBeUndefined();
    expect(await cloud.admit('DescribeInstances')).toEqual({ kind: 'throttled', retryAfterMs: 500 });
    clock.advance(500);
    expect(await cloud.admit('DescribeInstances')).toBeUndefined();
  });

  it('consults gates so that faults can fail calls', async () => {
    const { cloud } = buildCloud({ provider: 'openstack' });
    const remove = cloud.addApiGate((operation) => (operation === 'servers.create' ? { kind: 'unavailable', message: 'outage' } : undefined));
    expect(await cloud.admit('servers.create')).toEqual({ kind: 'unavailable', message: 'outage' });
    expect(await cloud.admit('servers.list')).toBeUndefined();
    remove();
    expect(await cloud.admit('servers.create')).toBeUndefined();
  });
});
