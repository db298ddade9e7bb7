import { describe, expect, it } from 'vitest';
import { CloudError, type CloudDriver, type CloudInstance, type CloudOfferings, type LaunchRequest } from '@defib/clouds';
import { createLogger } from '@defib/platform';
import { ManualClock } from '@defib/platform/testing';
import { CloudWatch, type CloudWatchOptions } from './cloud-watch.ts';
import type { CloudView } from './watch.ts';

const logger = createLogger({ service: 'cloud-watch-spec', level: 'silent' });
const intervalMs = 5_000;

/** A promise and the hands to settle it, for calls a test holds open. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

function instance(id: string, overrides: Partial<CloudInstance> = {}): CloudInstance {
  return {
    id,
    name: `vm-${id}`,
    state: 'running',
    cloudStatus: 'ACTIVE',
    addresses: [{ address: '10.0.0.5', type: 'fixed', network: 'private', version: 4 }],
    zone: 'az-1',
    metadata: { 'defib-managed': 'true' },
    ...overrides,
  };
}

/** An in-memory cloud: what it lists and describes, and how its next calls fail or stall. */
class FakeCloud implements CloudDriver {
  readonly provider = 'openstack' as const;
  readonly instances = new Map<string, CloudInstance>();
  /** Known to `describe` but left out of listings (an eventually-consistent listing). */
  readonly unlisted = new Set<string>();
  /** Errors the next `list` calls throw, in order. */
  readonly listFailures: Error[] = [];
  /** When set, the answer of `list` arrives only once it resolves. */
  listGate: Promise<void> | undefined;
  /** Runs once the cloud has answered a `list`, before the answer arrives. */
  afterListing: (() => void) | undefined;
  /** When set, `describe` waits for it. */
  describeGate: Promise<void> | undefined;
  describeFailure: Error | undefined;
  listCalls = 0;

  readonly cloud: string;

  constructor(cloud: string) {
    this.cloud = cloud;
  }

  put(...instances: CloudInstance[]): void {
    for (const vm of instances) this.instances.set(vm.id, vm);
  }

  /** The cloud answers when called; a gate only delays the answer's arrival. */
  async list(): Promise<CloudInstance[]> {
    this.listCalls += 1;
    const failure = this.listFailures.shift();
    const listing = [...this.instances.values()].filter((vm) => !this.unlisted.has(vm.id));
    this.afterListing?.();
    if (this.listGate !== undefined) await this.listGate;
    if (failure !== undefined) throw failure;
    return listing;
  }

  async describe(instanceId: string): Promise<CloudInstance> {
    if (this.describeGate !== undefined) await this.describeGate;
    if (this.describeFailure !== undefined) throw this.describeFailure;
    const vm = this.instances.get(instanceId);
    if (vm === undefined) throw new CloudError('not-found', this.cloud, 'describe', `instance ${instanceId} is not known to the cloud`, { status: 404 });
    return vm;
  }

  checkAccess(): Promise<void> {
    return Promise.resolve();
  }
  offerings(): Promise<CloudOfferings> {
    return Promise.resolve({ images: [], flavors: [] });
  }
  launch(_request: LaunchRequest): Promise<CloudInstance> {
    return Promise.reject(new Error('not used by the cloud watch'));
  }
  reboot(): Promise<void> {
    return Promise.reject(new Error('not used by the cloud watch'));
  }
  start(): Promise<void> {
    return Promise.reject(new Error('not used by the cloud watch'));
  }
  stop(): Promise<void> {
    return Promise.reject(new Error('not used by the cloud watch'));
  }
  terminate(): Promise<void> {
    return Promise.reject(new Error('not used by the cloud watch'));
  }
  close(): void {}
}

/** A watch over the given clouds, expecting `expected` instance ids on each; records what it reports. */
function watchOver(clouds: FakeCloud[], expected: Record<string, string[]>, options: Partial<CloudWatchOptions> = {}) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const views: CloudView[] = [];
  const failures: { cloud: string; error: unknown }[] = [];
  const successes: { cloud: string; instances: number }[] = [];
  const targets = new Map(Object.entries(expected).map(([cloud, ids]) => [cloud, new Set(ids)]));
  const watch = new CloudWatch({
    clock,
    logger,
    driverFor: (name) => {
      const cloud = clouds.find((candidate) => candidate.cloud === name);
      return cloud === undefined ? Promise.reject(new Error(`cloud ${name} is not registered`)) : Promise.resolve(cloud);
    },
    targets: () => targets,
    intervalMs,
    onView: (view) => views.push(view),
    onPollFailed: (cloud, error) => failures.push({ cloud, error }),
    onPollSucceeded: (cloud, _durationMs, instances) => successes.push({ cloud, instances }),
    ...options,
  });
  return { clock, watch, views, failures, successes, targets };
}

describe('cloud watch', () => {
  describe('views', () => {
    it('reports the first sight of every expected VM, observed when the poll completed', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'), instance('srv-2', { state: 'stopped', cloudStatus: 'SHUTOFF' }), instance('srv-other'));
      const { clock, watch, views, successes } = watchOver([east], { east: ['srv-1', 'srv-2'] });

      await watch.pollNow('east');

      expect(views.map((view) => [view.instanceId, view.state, view.cloudStatus])).toEqual([
        ['srv-1', 'running', 'ACTIVE'],
        ['srv-2', 'stopped', 'SHUTOFF'],
      ]);
      expect(views[0]).toMatchObject({ cloud: 'east', zone: 'az-1', observedAt: clock.now(), stateSince: clock.now() });
      expect(watch.view('srv-2')?.cloudStatus).toBe('SHUTOFF');
      expect(watch.view('srv-other')).toBeUndefined();
      expect(successes).toEqual([{ cloud: 'east', instances: 3 }]);
    });

    it('reports a changed view once, and an unchanged one never', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { clock, watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');
      const firstSeenAt = clock.now();

      clock.advance(intervalMs);
      await watch.pollNow('east');
      expect(views).toHaveLength(1);
      expect(watch.view('srv-1')?.observedAt).toBe(clock.now());

      east.put(instance('srv-1', { state: 'stopped', cloudStatus: 'SHUTOFF' }));
      clock.advance(intervalMs);
      await watch.pollNow('east');
      clock.advance(intervalMs);
      await watch.pollNow('east');

      expect(views.map((view) => view.cloudStatus)).toEqual(['ACTIVE', 'SHUTOFF']);
      expect(views[1]?.stateSince).toBe(firstSeenAt + 2 * intervalMs);
      expect(watch.view('srv-1')).toMatchObject({ observedAt: clock.now(), stateSince: firstSeenAt + 2 * intervalMs });
    });

    it('reports changed health, addresses and zone, but not a renamed network', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1', { health: { instance: 'ok', system: 'ok', details: [] } }));
      const { watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');

      east.put(instance('srv-1', { health: { instance: 'impaired', system: 'ok', details: ['reachability'] } }));
      await watch.pollNow('east');
      east.put(instance('srv-1', { health: { instance: 'impaired', system: 'ok', details: ['reachability'] }, addresses: [{ address: '10.0.0.5', type: 'fixed', network: 'renamed', version: 4 }] }));
      await watch.pollNow('east');
      east.put(instance('srv-1', { health: { instance: 'impaired', system: 'ok', details: ['reachability'] }, addresses: [{ address: '10.0.0.9', type: 'fixed', version: 4 }] }));
      await watch.pollNow('east');
      east.put(instance('srv-1', { health: { instance: 'impaired', system: 'ok', details: ['reachability'] }, addresses: [{ address: '10.0.0.9', type: 'fixed', version: 4 }], zone: 'az-2' }));
      await watch.pollNow('east');

      expect(views.map((view) => [view.health?.instance, view.addresses[0]?.address, view.zone])).toEqual([
        ['ok', '10.0.0.5', 'az-1'],
        ['impaired', '10.0.0.5', 'az-1'],
        ['impaired', '10.0.0.9', 'az-1'],
        ['impaired', '10.0.0.9', 'az-2'],
      ]);
    });

    it('forgets a VM on request and when it is no longer expected', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'), instance('srv-2'));
      const { watch, views, targets } = watchOver([east], { east: ['srv-1', 'srv-2'] });
      await watch.pollNow('east');

      watch.forget('srv-1');
      expect(watch.view('srv-1')).toBeUndefined();
      targets.set('east', new Set(['srv-1']));
      await watch.pollNow('east');

      expect(watch.view('srv-2')).toBeUndefined();
      expect(views.map((view) => view.instanceId)).toEqual(['srv-1', 'srv-2', 'srv-1']);
    });
  });

  describe('cloud API failures', () => {
    it.each([
      ['throttled', new CloudError('throttled', 'east', 'list', 'RequestLimitExceeded', { status: 503 })],
      ['unavailable', new CloudError('unavailable', 'east', 'list', 'connection refused (ECONNREFUSED)')],
      ['refused credentials', new CloudError('auth', 'east', 'list', 'invalid token', { status: 401 })],
      ['not registered', new Error('cloud east is not registered')],
    ])('reports a poll that failed (%s) and changes no view', async (_why, error) => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { watch, views, failures } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');
      const before = watch.view('srv-1');

      east.listFailures.push(error, error);
      east.instances.clear();
      await watch.pollNow('east');
      await watch.pollNow('east');

      expect(failures).toEqual([
        { cloud: 'east', error },
        { cloud: 'east', error },
      ]);
      expect(views).toHaveLength(1);
      expect(watch.view('srv-1')).toEqual(before);
    });
  });

  describe('a VM missing from the listing', () => {
    it('is not gone after one listing without it while describe still finds it, and gone after two', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { clock, watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');

      east.unlisted.add('srv-1');
      clock.advance(intervalMs);
      await watch.pollNow('east');
      expect(watch.view('srv-1')?.state).toBe('running');

      east.instances.delete('srv-1');
      clock.advance(intervalMs);
      await watch.pollNow('east');

      expect(views.map((view) => view.state)).toEqual(['running', 'gone']);
      expect(watch.view('srv-1')).toMatchObject({ state: 'gone', cloudStatus: 'gone', zone: 'az-1', observedAt: clock.now() });
    });

    it('is gone after two listings without it when describe cannot be asked', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');

      east.instances.delete('srv-1');
      east.describeFailure = new CloudError('throttled', 'east', 'describe', 'Throttling');
      await watch.pollNow('east');
      expect(watch.view('srv-1')?.state).toBe('running');
      await watch.pollNow('east');

      expect(views.map((view) => view.state)).toEqual(['running', 'gone']);
    });

    it('is gone after one listing when describe says the cloud does not know it', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');

      east.instances.delete('srv-1');
      await watch.pollNow('east');

      expect(views.map((view) => view.state)).toEqual(['running', 'gone']);
    });

    it('is not counted missing across a failed poll', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');

      east.unlisted.add('srv-1');
      await watch.pollNow('east');
      east.listFailures.push(new CloudError('unavailable', 'east', 'list', '503'));
      await watch.pollNow('east');
      east.unlisted.clear();
      await watch.pollNow('east');
      east.unlisted.add('srv-1');
      await watch.pollNow('east');

      expect(views.map((view) => view.state)).toEqual(['running']);
    });

    it('is given a grace when it was never seen (a VM just launched)', async () => {
      const east = new FakeCloud('east');
      const { clock, watch, views } = watchOver([east], { east: ['srv-new'] }, { unseenGraceMs: 60_000 });

      for (let poll = 0; poll < 5; poll++) {
        await watch.pollNow('east');
        clock.advance(intervalMs);
      }
      expect(views).toEqual([]);

      clock.advance(60_000);
      await watch.pollNow('east');
      expect(views.map((view) => [view.instanceId, view.state])).toEqual([['srv-new', 'gone']]);
    });
  });

  describe('look', () => {
    it('answers with the VM as the cloud describes it, and reports the change', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');
      east.put(instance('srv-1', { state: 'error', cloudStatus: 'ERROR' }));

      const view = await watch.look('east', 'srv-1', 2_000);

      expect(view).toMatchObject({ instanceId: 'srv-1', state: 'error', cloudStatus: 'ERROR' });
      expect(watch.view('srv-1')).toEqual(view);
      expect(views.map((seen) => seen.cloudStatus)).toEqual(['ACTIVE', 'ERROR']);
    });

    it('is not overwritten by a listing the cloud gave before the look', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { clock, watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');
      const slow = deferred<void>();
      east.listGate = slow.promise;

      east.afterListing = () => east.put(instance('srv-1', { state: 'stopped', cloudStatus: 'SHUTOFF' }));

      clock.advance(intervalMs);
      const poll = watch.pollNow('east');
      clock.advance(1_000);
      await watch.look('east', 'srv-1', 2_000);
      clock.advance(1_000);
      slow.resolve();
      await poll;

      expect(watch.view('srv-1')?.cloudStatus).toBe('SHUTOFF');
      expect(views.map((view) => view.cloudStatus)).toEqual(['ACTIVE', 'SHUTOFF']);
    });

    it('answers gone when the cloud does not know the VM', async () => {
      const east = new FakeCloud('east');
      const { watch } = watchOver([east], { east: ['srv-1'] });

      expect(await watch.look('east', 'srv-1', 2_000)).toMatchObject({ instanceId: 'srv-1', state: 'gone', cloudStatus: 'gone' });
    });

    it('answers nothing when the cloud fails, and changes nothing', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { watch, views } = watchOver([east], { east: ['srv-1'] });
      await watch.pollNow('east');
      east.describeFailure = new CloudError('unavailable', 'east', 'describe', 'connection reset (ECONNRESET)');

      expect(await watch.look('east', 'srv-1', 2_000)).toBeUndefined();
      expect(views).toHaveLength(1);
    });

    it('answers nothing when the cloud does not answer in time', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const gate = deferred<void>();
      east.describeGate = gate.promise;
      const { clock, watch, views } = watchOver([east], { east: ['srv-1'] });

      const answer = watch.look('east', 'srv-1', 2_000);
      clock.advance(2_000);

      expect(await answer).toBeUndefined();
      gate.resolve();
      expect(views).toEqual([]);
    });
  });

  describe('polling', () => {
    it('polls every target cloud at start and then every interval', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const { clock, watch, successes } = watchOver([east], { east: ['srv-1'] });

      watch.start();
      await watch.pollNow('east');
      clock.advance(intervalMs - 1);
      expect(east.listCalls).toBe(1);
      clock.advance(1);
      await watch.pollNow('east');
      await watch.stop();
      clock.advance(10 * intervalMs);

      expect(east.listCalls).toBe(2);
      expect(successes).toHaveLength(2);
    });

    it('polls each cloud independently: one that hangs neither delays another nor gets a second poll', async () => {
      const east = new FakeCloud('east');
      const west = new FakeCloud('west');
      east.put(instance('srv-east'));
      west.put(instance('srv-west'));
      const hung = deferred<void>();
      east.listGate = hung.promise;
      const { clock, watch, views } = watchOver([east, west], { east: ['srv-east'], west: ['srv-west'] });

      watch.start();
      await watch.pollNow('west');
      west.put(instance('srv-west', { state: 'stopped', cloudStatus: 'SHUTOFF' }));
      clock.advance(intervalMs);
      await watch.pollNow('west');
      clock.advance(intervalMs);
      await watch.pollNow('west');

      expect(views.map((view) => [view.instanceId, view.cloudStatus])).toEqual([
        ['srv-west', 'ACTIVE'],
        ['srv-west', 'SHUTOFF'],
      ]);
      expect(west.listCalls).toBe(3);
      expect(east.listCalls).toBe(1);

      hung.resolve();
      await watch.pollNow('east');
      expect(watch.view('srv-east')?.state).toBe('running');
      await watch.stop();
    });

    it('reports nothing after it stopped', async () => {
      const east = new FakeCloud('east');
      east.put(instance('srv-1'));
      const gate = deferred<void>();
      east.listGate = gate.promise;
      const { watch, views } = watchOver([east], { east: ['srv-1'] });

      watch.start();
      const stopped = watch.stop();
      gate.resolve();
      await stopped;

      expect(views).toEqual([]);
    });
  });
});
