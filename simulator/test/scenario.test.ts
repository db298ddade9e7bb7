/** Scenarios through `POST /_sim/scenarios`: scheduling, reproducibility, validation, the examples. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryAgentNetwork } from '../src/agents/in-memory-agent-network.ts';
import { startSimulator } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';

type Json = Record<string, unknown>;
interface Entry extends Json {
  type: string;
  wallClock: string;
}

const EXAMPLES = join(import.meta.dirname, '..', 'scenarios');

const reproducible = (seed: string): string => `
name: reproducible
seed: ${seed}
speed: 10
clouds:
  - name: sim-openstack
    timings: { jitter: 0.3 }
vms:
  - cloud: sim-openstack
    name: db
    image: fedora-40
    flavor: m1.small
    count: 3
    tags: { role: db }
    agent: { deployable: shop, assembly: db, resources: [{ name: mysqld }] }
  - cloud: sim-ec2
    name: web
    image: fedora-40
    flavor: t3.micro
    count: 2
faults:
  - at: { between: [30s, 90s] }
    count: 2
    kind: vm-crash
    target: { tag: role=db, pick: 1 }
    to: error
  - at: { between: [40s, 100s] }
    kind: ip-change
    target: { cloud: sim-ec2, vm: web, pick: 1 }
    floating: true
  - at: 20s
    kind: boot-failure
    target: { cloud: sim-openstack }
    duration: 1m
duration: 3m
`;

const running: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
});

async function start(): Promise<RunningSimulator> {
  const sim = await startSimulator({ agents: { network: new InMemoryAgentNetwork() } });
  running.push(sim);
  return sim;
}

async function post(sim: RunningSimulator, text: string, contentType = 'application/yaml'): Promise<{ status: number; body: Json; type: string | null }> {
  const response = await fetch(`${sim.url}/_sim/scenarios`, { method: 'POST', headers: { 'Content-Type': contentType }, body: text });
  return { status: response.status, body: (await response.json()) as Json, type: response.headers.get('content-type') };
}

async function get(sim: RunningSimulator, path: string): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${sim.url}/_sim${path}`);
  return { status: response.status, body: (await response.json()) as Json };
}

/** Runs the reproducible scenario for its three minutes (18 s of clock at speed 10), with one VM created mid-way through the API. */
async function runScenario(sim: RunningSimulator, seed: string): Promise<{ entries: Entry[]; assemblies: unknown }> {
  expect((await post(sim, reproducible(seed))).status).toBe(201);
  sim.clock.advance(2_500);
  const cloud = sim.simulator.clouds.get('sim-openstack');
  cloud?.create({ name: 'late', imageId: 'fedora-40', flavorId: 'm1.small' });
  sim.clock.advance(15_500);
  const timeline = await get(sim, '/timeline');
  return { entries: timeline.body.entries as Entry[], assemblies: timeline.body.assemblies };
}

const withoutWallClock = (entries: Entry[]): Json[] => entries.map(({ wallClock: _wallClock, ...entry }) => entry);

describe('scenarios', () => {
  it('replays the same timeline for the same seed: ids, addresses, order and simulated times', async () => {
    const first = await runScenario(await start(), 'seed-a');
    const second = await runScenario(await start(), 'seed-a');
    expect(second).toEqual(first);
    const types = first.entries.map((entry) => entry.type);
    expect(types.filter((type) => type === 'fault.injected')).toHaveLength(4);
    expect(types).toContain('fault.applied');
    expect(types).toContain('vm.addresses-changed');
    expect(types.at(-1)).toBe('scenario.finished');
  });

  it('replays the same timeline when rerun on the same simulator (simulated times; the clock has moved on)', async () => {
    const sim = await start();
    const first = await runScenario(sim, 'seed-a');
    const again = await runScenario(sim, 'seed-a');
    expect(withoutWallClock(again.entries)).toEqual(withoutWallClock(first.entries));
  });

  it('gives another timeline for another seed', async () => {
    const sim = await start();
    const first = await runScenario(sim, 'seed-a');
    const other = await runScenario(sim, 'seed-b');
    const ids = (entries: Entry[]): unknown[] => entries.filter((entry) => entry.type === 'vm.created').map((entry) => entry.vmId);
    const faultTimes = (entries: Entry[]): unknown[] => entries.filter((entry) => entry.type === 'fault.injected').map((entry) => entry.simTimeMs);
    expect(ids(other.entries)).not.toEqual(ids(first.entries));
    expect(faultTimes(other.entries)).not.toEqual(faultTimes(first.entries));
  });

  it('shows the running scenario with its planned faults, injected at their times, and heals them when it ends', async () => {
    const sim = await start();
    expect((await get(sim, '/scenarios/current')).status).toBe(404);
    const started = await post(sim, reproducible('seed-a'));
    expect(started.body).toMatchObject({ name: 'reproducible', seed: 'seed-a', speedFactor: 10, state: 'running', startedAt: { simTimeMs: 0 }, endsAt: { simTimeMs: 180_000 } });
    expect(started.body.vms).toHaveLength(5);
    const planned = started.body.faults as { atMs: number; state: string; kind: string }[];
    expect(planned.map((fault) => fault.state)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(planned[0]).toMatchObject({ kind: 'boot-failure', at: '20s', atMs: 20_000 });
    sim.clock.advance(2_000);
    const current = (await get(sim, '/scenarios/current')).body;
    expect((current.faults as { state: string }[])[0]).toMatchObject({ state: 'injected', faultId: expect.stringMatching(/^flt-/) as unknown });
    sim.clock.advance(16_000);
    const finished = (await get(sim, '/scenarios/current')).body;
    expect(finished.state).toBe('finished');
    expect((finished.faults as { state: string }[]).every((fault) => fault.state === 'injected')).toBe(true);
    expect((await get(sim, '/faults?state=active')).body.faults).toEqual([]);
  });

  it('takes JSON as well as YAML', async () => {
    const sim = await start();
    const reply = await post(sim, JSON.stringify({ name: 'json', seed: 7, faults: [{ at: '1s', kind: 'api-outage', target: { cloud: 'sim-ec2' }, duration: '5s' }] }), 'application/json');
    expect(reply).toMatchObject({ status: 201, body: { name: 'json', seed: '7' } });
  });

  it('answers an invalid scenario with a 400 problem naming each field with its line, in reading order', async () => {
    const sim = await start();
    const reply = await post(sim, ['name: broken', 'seed: 1', 'faults:', '  - at: soon', '    kind: vm-crash', '    target: { vm: a, host: b }', '  - at: 5s', '    kind: meteor', '    target: { vm: a }'].join('\n'));
    expect(reply.status).toBe(400);
    expect(reply.type).toContain('application/problem+json');
    expect(reply.body.issues).toEqual([
      { path: 'faults[0].at', message: 'must be a duration such as 500ms, 10s or 5m', line: 4, column: 5 },
      { path: 'faults[0].target.host', message: expect.stringContaining('cannot be combined with vm') as unknown, line: 6, column: expect.any(Number) as unknown },
      { path: 'faults[1].kind', message: expect.stringContaining('must be one of vm-crash') as unknown, line: 8, column: 5 },
    ]);
    expect(reply.body.detail).toContain('faults[0].at');
  });

  it('answers YAML syntax errors with the line, and clouds the simulator lacks naming the field', async () => {
    const sim = await start();
    const syntax = await post(sim, 'name: x\nseed: [1\n');
    expect(syntax.status).toBe(400);
    expect(syntax.type).toContain('application/problem+json');
    expect(syntax.body.detail).toMatch(/malformed YAML body at line [2-9]/);
    const unknown = await post(sim, 'name: x\nseed: 1\nvms:\n  - cloud: sim-azure\n    name: a\n    image: fedora-40\n    flavor: m1.small\n');
    expect(unknown).toMatchObject({ status: 400, body: { code: 'validation_failed', issues: [{ path: 'vms[0].cloud' }] } });
    expect(await post(sim, '')).toMatchObject({ status: 400, body: { issues: [{ path: 'body', message: 'is empty' }] } });
    expect((await post(sim, '{"name": "x", "seed": 1}', 'text/plain')).status).toBe(415);
  });

  it('leaves the running world alone when a scenario is refused', async () => {
    const sim = await start();
    await post(sim, reproducible('seed-a'));
    await post(sim, 'name: x\nseed: 1\nclouds:\n  - name: sim-openstack\n    provider: ec2\n');
    expect((await get(sim, '/scenarios/current')).body.name).toBe('reproducible');
  });

  it('records a scheduled fault whose target names nothing as skipped', async () => {
    const sim = await start();
    await post(sim, 'name: x\nseed: 1\nfaults:\n  - at: 1s\n    kind: vm-crash\n    target: { vm: ghost }\n');
    sim.clock.advance(1_000);
    expect((await get(sim, '/scenarios/current')).body).toMatchObject({ state: 'finished', faults: [{ state: 'skipped', reason: 'no VM with id or name "ghost"' }] });
    expect((await get(sim, '/timeline?type=fault.skipped')).body.entries).toEqual([expect.objectContaining({ kind: 'vm-crash', field: 'target.vm' })]);
  });

  const examples = readdirSync(EXAMPLES).filter((file) => file.endsWith('.yaml'));

  it('ships examples for a resource crash, a host failure, a flaky partition, a throttling storm and an IP change', () => {
    expect(examples.sort()).toEqual(['api-throttling-storm.yaml', 'flaky-partition.yaml', 'host-failure.yaml', 'ip-change.yaml', 'resource-crash.yaml']);
  });

  it.each(examples)('runs the example %s to its end, every fault striking something', async (file) => {
    const sim = await start();
    const started = await post(sim, readFileSync(join(EXAMPLES, file), 'utf8'));
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const { endsAt } = started.body as { endsAt: { wallClock: string } };
    sim.clock.advance(Date.parse(endsAt.wallClock) - sim.clock.now());
    const current = (await get(sim, '/scenarios/current')).body;
    expect(current.state).toBe('finished');
    expect((current.faults as { state: string }[]).every((fault) => fault.state === 'injected')).toBe(true);
    const injected = ((await get(sim, '/timeline?type=fault.injected')).body.entries as { kind: string; affected: { applied: boolean }[] }[]).filter((entry) => !entry.kind.startsWith('api-') && entry.kind !== 'host-failure');
    for (const entry of injected) expect(entry.affected.some((vm) => vm.applied), `${file}: ${entry.kind}`).toBe(true);
  });
});
