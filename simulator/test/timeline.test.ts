/** `GET /_sim/timeline`: the ground truth a drill scores against. */
import { encodeAgentConfig } from '@defib/contracts';
import { testAgentKeyText } from '@defib/contracts/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryAgentNetwork } from '../src/agents/in-memory-agent-network.ts';
import type { Cloud } from '../src/cloud/cloud.ts';
import { startSimulator, testTimings } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';

const DB = 'c0ffee00-1234-4abc-8def-0123456789ab';

interface Entry {
  seq: number;
  type: string;
  simTimeMs: number;
  wallClock: string;
  vmId?: string;
  faultId?: string;
  providerState?: string;
}
interface TimelineBody {
  origin: string;
  now: { simTimeMs: number; wallClock: string };
  entries: Entry[];
  assemblies: { assemblyId: string; assembly: string; intervals: { vmId: string; start: { simTimeMs: number }; end: { simTimeMs: number } | null }[]; overlaps: { vmIds: string[] }[] }[];
}

let sim: RunningSimulator;
let cloud: Cloud;
beforeEach(async () => {
  sim = await startSimulator({ agents: { network: new InMemoryAgentNetwork() } });
  const openstack = sim.simulator.clouds.get('sim-openstack');
  if (!openstack) throw new Error('no sim-openstack');
  cloud = openstack;
});
afterEach(() => sim.stop());

async function timeline(query = ''): Promise<TimelineBody> {
  const response = await fetch(`${sim.url}/_sim/timeline${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as TimelineBody;
}

function launchDb(): string {
  const userData = encodeAgentConfig({ protocol: 1, brokerUrl: 'amqp://sim', exchange: 'defib.agents', deployableId: DB, assemblyId: DB, key: testAgentKeyText(DB), assembly: 'db', heartbeatIntervalMs: 1_000, resources: [] });
  return cloud.create({ name: 'db', imageId: cloud.images[0]?.id ?? '', flavorId: '2', userData })[0]?.id ?? '';
}

async function injectCrash(vm: string): Promise<string> {
  const response = await fetch(`${sim.url}/_sim/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ kind: 'vm-crash', target: { vm }, to: 'error' }) });
  return ((await response.json()) as { id: string }).id;
}

describe('timeline', () => {
  it('lists a crash and its recovery by replacement with simulated and wall-clock times, and no overlap', async () => {
    const first = launchDb();
    sim.clock.advance(testTimings.build);
    sim.clock.advance(5_000);
    const faultId = await injectCrash(first);
    sim.clock.advance(2_000);
    cloud.request(first, 'delete');
    sim.clock.advance(testTimings.delete);
    const second = launchDb();
    sim.clock.advance(testTimings.build);

    const body = await timeline();
    expect(body.entries.map(({ type, vmId, simTimeMs, providerState }) => [type, vmId ?? null, simTimeMs, providerState ?? null])).toEqual([
      ['vm.created', first, 0, null],
      ['vm.transition', first, 10_000, 'ACTIVE'],
      ['fault.injected', null, 15_000, null],
      ['vm.transition', first, 15_000, 'ERROR'],
      ['vm.transition', first, 17_000, 'ERROR'],
      ['vm.transition', first, 18_000, 'DELETED'],
      ['vm.addresses-changed', first, 18_000, null],
      ['vm.created', second, 18_000, null],
      ['vm.transition', second, 28_000, 'ACTIVE'],
    ]);
    expect(body.entries[2]).toMatchObject({ faultId, wallClock: new Date(Date.UTC(2025, 0, 1) + 15_000).toISOString() });
    expect(body.assemblies).toEqual([
      expect.objectContaining({
        assemblyId: DB,
        assembly: 'db',
        intervals: [expect.objectContaining({ vmId: first, start: expect.objectContaining({ simTimeMs: 10_000 }) as unknown, end: expect.objectContaining({ simTimeMs: 15_000 }) as unknown }), expect.objectContaining({ vmId: second, end: null })],
        overlaps: [],
      }),
    ]);
  });

  it('exposes two instances of one assembly running at once', async () => {
    const first = launchDb();
    const second = launchDb();
    sim.clock.advance(testTimings.build);
    expect((await timeline()).assemblies[0]?.overlaps).toEqual([expect.objectContaining({ vmIds: [first, second], end: null })]);
  });

  it('filters by type, VM, fault and simulated time', async () => {
    const first = launchDb();
    sim.clock.advance(testTimings.build);
    const other = launchDb();
    const faultId = await injectCrash(first);
    expect((await timeline('?type=fault.injected,vm.created')).entries.map((entry) => entry.type)).toEqual(['vm.created', 'vm.created', 'fault.injected']);
    expect((await timeline(`?vm=${other}`)).entries.map((entry) => entry.type)).toEqual(['vm.created']);
    expect((await timeline(`?fault=${faultId}`)).entries).toHaveLength(1);
    expect((await timeline(`?vm=${first}`)).entries.map((entry) => entry.type)).toEqual(['vm.created', 'vm.transition', 'fault.injected', 'vm.transition']);
    expect((await timeline('?since=10s&until=10000')).entries.every((entry) => entry.simTimeMs === 10_000)).toBe(true);
  });

  it('answers an unknown filter with a 400 problem naming it', async () => {
    const response = await fetch(`${sim.url}/_sim/timeline?colour=red`);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(((await response.json()) as { issues: { path: string }[] }).issues).toEqual([expect.objectContaining({ path: 'query.colour' })]);
  });

  it('starts over on reset', async () => {
    launchDb();
    sim.clock.advance(testTimings.build);
    await fetch(`${sim.url}/_sim/reset`, { method: 'POST' });
    const body = await timeline();
    expect(body.entries).toEqual([]);
    expect(body.assemblies).toEqual([]);
    expect(body.now.simTimeMs).toBe(0);
  });
});
