import { encodeAgentConfig } from '@defib/contracts';
import { testAgentKeyText } from '@defib/contracts/testing';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@defib/platform/testing';
import { Cloud } from '../cloud/cloud.ts';
import { resolveCloudConfig } from '../cloud/cloud-config.ts';
import { SeededRandom } from '@defib/platform';
import { AssemblyIndex } from './assembly-index.ts';
import { Timeline, overlapsOf } from './timeline.ts';
import type { RunningInterval } from './timeline.ts';

const timings = { build: 10_000, reboot: 4_000, hardReboot: 2_000, stop: 3_000, start: 5_000, rebuild: 6_000, delete: 1_000, jitter: 0, deletedRetention: 60_000 };
const DB = '11111111-2222-4333-8444-555555555555';

function setUp(speedFactor = 1) {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const cloud = new Cloud(resolveCloudConfig({ name: 'os', provider: 'openstack', timings }), { clock, random: new SeededRandom('timeline'), speedFactor });
  const timeline = new Timeline({ clock, speedFactor: () => speedFactor, assemblies: new AssemblyIndex() });
  timeline.observe(cloud);
  const launch = (assemblyId: string | null = DB): string => {
    const userData = assemblyId === null ? null : encodeAgentConfig({ protocol: 1, brokerUrl: 'amqp://localhost', exchange: 'defib.agents', deployableId: DB, assemblyId, key: testAgentKeyText(assemblyId), assembly: 'db', heartbeatIntervalMs: 1_000, resources: [] });
    return cloud.create({ name: 'db', imageId: cloud.images[0]?.id ?? '', flavorId: '1', userData })[0]?.id ?? '';
  };
  return { clock, cloud, timeline, launch };
}

const interval = (vmId: string, start: number, end: number | null): RunningInterval => ({
  cloud: 'os',
  vmId,
  start: { simTimeMs: start, wallClock: '' },
  end: end === null ? null : { simTimeMs: end, wallClock: '' },
});

describe('timeline', () => {
  it('records every lifecycle change with simulated and wall-clock time', () => {
    const { clock, timeline, launch } = setUp();
    const id = launch();
    clock.advance(timings.build);
    const [created, built] = timeline.entries();
    expect(created).toMatchObject({ seq: 1, type: 'vm.created', vmId: id, assemblyId: DB, assembly: 'db', simTimeMs: 0, wallClock: '2025-01-01T00:00:00.000Z' });
    expect(built).toMatchObject({ seq: 2, type: 'vm.transition', vmId: id, providerState: 'ACTIVE', from: { phase: 'building' }, to: { phase: 'running' }, operation: 'build', cause: 'completed', simTimeMs: 10_000 });
  });

  it('counts simulated time in cloud time, scaled by the speed factor', () => {
    const { clock, timeline, launch } = setUp(10);
    launch();
    clock.advance(timings.build / 10);
    expect(timeline.entries().at(-1)).toMatchObject({ simTimeMs: 10_000, wallClock: '2025-01-01T00:00:01.000Z' });
  });

  it('keeps when each instance of an assembly ran (until it was gone, not when asked to go) and finds no overlap when one replaces the other', () => {
    const { clock, cloud, timeline, launch } = setUp();
    const old = launch();
    clock.advance(timings.build);
    cloud.request(old, 'delete');
    clock.advance(timings.delete);
    const replacement = launch();
    clock.advance(timings.build);
    const [history] = timeline.assemblies();
    expect(history).toMatchObject({ assemblyId: DB, assembly: 'db', overlaps: [] });
    expect(history?.intervals.map(({ vmId, start, end }) => [vmId, start.simTimeMs, end?.simTimeMs ?? null])).toEqual([
      [old, 10_000, 11_000],
      [replacement, 21_000, null],
    ]);
  });

  it('shows two instances of one assembly running at once as an overlap', () => {
    const { clock, cloud, timeline, launch } = setUp();
    const first = launch();
    clock.advance(timings.build);
    const second = launch();
    clock.advance(timings.build);
    cloud.request(first, 'stop');
    clock.advance(timings.stop);
    expect(timeline.assemblies()[0]?.overlaps).toEqual([{ vmIds: [first, second], start: expect.objectContaining({ simTimeMs: 20_000 }) as unknown, end: expect.objectContaining({ simTimeMs: 23_000 }) as unknown }]);
  });

  it('ignores VMs without an agent configuration in assembly histories', () => {
    const { clock, timeline, launch } = setUp();
    launch(null);
    clock.advance(timings.build);
    expect(timeline.assemblies()).toEqual([]);
  });

  it('filters entries by type, VM, assembly name and time', () => {
    const { clock, timeline, launch } = setUp();
    const a = launch();
    clock.advance(timings.build);
    launch(null);
    expect(timeline.entries({ vm: a }).map((entry) => entry.type)).toEqual(['vm.created', 'vm.transition']);
    expect(timeline.entries({ assembly: 'db' })).toHaveLength(2);
    expect(timeline.entries({ types: ['vm.created'] })).toHaveLength(2);
    expect(timeline.entries({ sinceMs: 5_000 }).map((entry) => entry.seq)).toEqual([2, 3]);
  });

  it('starts over on reset', () => {
    const { clock, timeline, launch } = setUp();
    launch();
    clock.advance(timings.build);
    timeline.reset();
    launch();
    expect(timeline.entries()).toMatchObject([{ seq: 1, simTimeMs: 0 }]);
    expect(timeline.assemblies()).toEqual([]);
  });
});

describe('overlaps', () => {
  it('does not count intervals that only touch', () => {
    expect(overlapsOf([interval('a', 0, 10), interval('b', 10, 20)])).toEqual([]);
  });

  it('reports the shared stretch of two intervals', () => {
    expect(overlapsOf([interval('a', 0, 15), interval('b', 10, 20)])).toEqual([{ vmIds: ['a', 'b'], start: interval('b', 10, 20).start, end: { simTimeMs: 15, wallClock: '' } }]);
  });

  it('never reports a VM overlapping itself', () => {
    expect(overlapsOf([interval('a', 0, 10), interval('a', 5, null)])).toEqual([]);
  });
});
