/**
 * Differential fidelity: every exchange captured from a real OpenStack Zed
 * (scripts/openstack-zed/capture.ts, fixtures in fidelity/zed/) is replayed, in order, against the
 * simulator, which must answer with the same status and a body of the same shape — the same keys,
 * recursively, with values of the same types; ids, times, URLs and host names aside. A few values
 * clients branch on are compared too (see `comparedValues`). Where the simulator differs on
 * purpose, the difference is listed in `knownDifferences` with the reason, and asserted exactly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { novaState } from '../src/cloud/nova-state.ts';
import { adminToken, startSimulator, testTimings } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';

type Service = 'identity' | 'compute' | 'image' | 'network';

/** One captured exchange, as capture.ts writes it. */
interface Fixture {
  name: string;
  about: string;
  request: { service: Service; method: string; path: string; headers?: Record<string, string>; body?: unknown };
  await?: { server: string; status: string };
  creates?: string;
  /** The capture's server-name prefix; the replay names its servers alike. */
  prefix: string;
  response: { status: number; headers: Record<string, string>; body: unknown };
}

const fixtureDir = join(import.meta.dirname, 'fidelity/zed');
const fixtures: Fixture[] = readdirSync(fixtureDir)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as Fixture);

/** Keys whose values, not only types, must match: what clients branch on, and what errors say. */
const comparedValues = new Set(['status', 'version', 'min_version', 'code', 'rel', 'type', 'title', 'message', 'OS-EXT-STS:vm_state', 'OS-EXT-STS:power_state']);

/** A value with the ids in it replaced: two clouds never share ids. */
const withoutIds = (value: unknown): unknown => (typeof value === 'string' ? value.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>') : value);

const withoutPlacement = ['$.token.catalog: 5 items in Zed, 4 in the simulator', '$.token.catalog[].type: "placement" in Zed, "identity" in the simulator'];
const ownerSpecified = ['owner_specified.openstack.md5', 'owner_specified.openstack.sha256', 'owner_specified.openstack.object'];
/**
 * Where the simulator answers differently on purpose: the differences `shapeDifferences` reports,
 * exactly, and why. Anything else that differs fails.
 */
const knownDifferences: Record<string, { why: string; differences: string[] }> = {
  'identity-token': {
    why: 'Zed\'s catalogue also lists placement, which Nova needs and no Defib client calls; the simulator has none.',
    differences: withoutPlacement,
  },
  'identity-token-validate': { why: 'As for identity-token: the catalogue has no placement.', differences: withoutPlacement },
  'glance-images': {
    why: 'The owner_specified.openstack.* properties are written by the client that uploaded the image (openstacksdk), not by Glance.',
    differences: ownerSpecified.map((key) => `$.images[].${key}: missing in the simulator`),
  },
  'glance-image-show': {
    why: 'As for glance-images: properties the uploading client set.',
    differences: ownerSpecified.map((key) => `$.${key}: missing in the simulator`),
  },
};

/** The differences between the real body and the simulator's, as `path: what`. */
function shapeDifferences(real: unknown, simulated: unknown, path = '$'): string[] {
  const kind = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
  if (kind(real) !== kind(simulated)) return [`${path}: ${kind(real)} in Zed, ${kind(simulated)} in the simulator`];
  if (Array.isArray(real) && Array.isArray(simulated)) {
    // Lists are matched element to element in either direction, whatever their order: each
    // element of one side against the element of the other it differs least from.
    const differences = new Set<string>(real.length === simulated.length ? [] : [`${path}: ${real.length} items in Zed, ${simulated.length} in the simulator`]);
    const closest = (element: unknown, candidates: unknown[], flip: boolean): string[] =>
      candidates.map((candidate) => (flip ? shapeDifferences(element, candidate, `${path}[]`) : shapeDifferences(candidate, element, `${path}[]`))).sort((a, b) => a.length - b.length)[0] ?? [];
    for (const element of simulated) for (const difference of closest(element, real, false)) differences.add(difference);
    for (const element of real) for (const difference of closest(element, simulated, true)) differences.add(difference);
    return [...differences];
  }
  if (typeof real === 'object' && real !== null && typeof simulated === 'object' && simulated !== null) {
    const realRecord = real as Record<string, unknown>;
    const simulatedRecord = simulated as Record<string, unknown>;
    const differences: string[] = [];
    for (const key of new Set([...Object.keys(realRecord), ...Object.keys(simulatedRecord)])) {
      if (!(key in simulatedRecord)) differences.push(`${path}.${key}: missing in the simulator`);
      else if (!(key in realRecord)) differences.push(`${path}.${key}: not in Zed`);
      else if (comparedValues.has(key) && typeof realRecord[key] !== 'object' && withoutIds(realRecord[key]) !== withoutIds(simulatedRecord[key])) differences.push(`${path}.${key}: ${JSON.stringify(realRecord[key])} in Zed, ${JSON.stringify(simulatedRecord[key])} in the simulator`);
      else differences.push(...shapeDifferences(realRecord[key], simulatedRecord[key], `${path}.${key}`));
    }
    return differences;
  }
  return [];
}

let sim: RunningSimulator;
let token: string;
let since: string;
const servers = new Map<string, string>();
/** The last server of the latest list, for markers. */
let lastListed = '';
const missingId = '00000000-0000-4000-8000-000000000000';
const identical: string[] = [];

const cloud = () => {
  const found = sim.simulator.clouds.get('sim-openstack');
  if (!found) throw new Error('no sim-openstack cloud');
  return found;
};
const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function resolve(text: string, prefix: string): string {
  const openstack = cloud();
  return text
    .replaceAll('{token}', token)
    .replaceAll('{wrong-password}', 'not-the-password')
    .replaceAll('{password}', 'secret')
    .replaceAll('{prefix}', prefix)
    .replaceAll('{image}', openstack.findImage('cirros')?.id ?? '')
    .replaceAll('{flavor}', '1')
    .replaceAll('{network-name}', 'private')
    .replaceAll('{network}', openstack.networks[0]?.id ?? '')
    .replaceAll('{since}', since)
    .replaceAll('{before}', isoSeconds(sim.clock.now() + 2_000))
    .replaceAll('{last-listed}', lastListed)
    .replace(/\{server:(\w+)\}/g, (_match, alias: string) => servers.get(alias) ?? missingId);
}

/** Advances simulated time until the server has the status the capture waited for. */
function awaitStatus(alias: string, status: string): void {
  const id = servers.get(alias) ?? '';
  for (let step = 0; step < 100; step++) {
    const vm = cloud().get(id);
    const current = vm === undefined || vm.state.phase === 'deleted' ? 'gone' : novaState(vm.state).status;
    if (current === status) return;
    sim.clock.advance(1_000);
  }
  throw new Error(`server ${alias} never became ${status}`);
}

const roots: Record<Service, string> = { identity: '/identity', compute: '/compute', image: '/image', network: '/networking' };

beforeAll(async () => {
  sim = await startSimulator({
    clouds: [
      {
        name: 'sim-openstack',
        provider: 'openstack',
        timings: testTimings,
        images: [{ name: 'cirros' }],
        flavors: [
          { id: '1', name: 'm1.tiny', vcpus: 1, ramMb: 512, diskGb: 1 },
          { id: '2', name: 'm1.small', vcpus: 1, ramMb: 2048, diskGb: 20 },
        ],
        networks: [{ name: 'private', fixedCidr: '10.20.0.0/24' }],
      },
    ],
  });
  token = await adminToken(sim.url);
  since = isoSeconds(sim.clock.now() - 2_000);
});
afterAll(async () => {
  console.log(`fidelity to OpenStack Zed: ${identical.length} of ${fixtures.length} exchanges identical in shape`);
  await sim.stop();
});

describe('fidelity to OpenStack Zed (captured exchanges replayed in order)', () => {
  it('has captured exchanges to replay', () => {
    expect(fixtures.length).toBeGreaterThan(50);
  });

  for (const fixture of fixtures) {
    const known = knownDifferences[fixture.name];
    it(`${fixture.name}: ${fixture.about}${known ? ` (a known difference: ${known.why})` : ''}`, async () => {
      if (fixture.await) awaitStatus(fixture.await.server, fixture.await.status);
      const { request } = fixture;
      const headers = Object.fromEntries(Object.entries(request.headers ?? {}).map(([key, value]) => [key, resolve(value, fixture.prefix)]));
      const response = await fetch(`${sim.url}${roots[request.service]}${resolve(request.path, fixture.prefix)}`, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: resolve(JSON.stringify(request.body), fixture.prefix) }),
      });
      const text = await response.text();
      const body: unknown = text === '' ? null : JSON.parse(text);
      if (fixture.creates && response.status === 202) servers.set(fixture.creates, (body as { server: { id: string } }).server.id);
      lastListed = (body as { servers?: { id: string }[] } | null)?.servers?.at(-1)?.id ?? lastListed;

      const differences = response.status === fixture.response.status ? shapeDifferences(fixture.response.body, body) : [`HTTP ${fixture.response.status} in Zed, ${response.status} in the simulator`];
      for (const header of ['openstack-api-version', 'x-openstack-nova-api-version']) {
        if (fixture.response.headers[header] !== (response.headers.get(header) ?? undefined)) differences.push(`header ${header}: ${fixture.response.headers[header]} in Zed, ${response.headers.get(header)} in the simulator`);
      }
      if (differences.length === 0) identical.push(fixture.name);
      expect(differences).toEqual(known?.differences ?? []);
    });
  }
});
