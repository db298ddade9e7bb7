/**
 * Each fault kind, injected through `POST /_sim/faults`, as the clients of the cloud APIs see it:
 * Nova statuses and EC2 states, addresses, boot failures and timings, throttling, outages and
 * latency; and, for the guest-side kinds, as the agents' heartbeats show it.
 */
import { DescribeInstancesCommand, EC2Client, EC2ServiceException, RunInstancesCommand } from '@aws-sdk/client-ec2';
import type { Instance } from '@aws-sdk/client-ec2';
import { encodeAgentConfig } from '@defib/contracts';
import { testAgentKeyText } from '@defib/contracts/testing';
import type { Heartbeat } from '@defib/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.ts';
import { InMemoryAgentNetwork } from '../src/agents/in-memory-agent-network.ts';
import { adminToken, startSimulator, testTimings } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';

type Json = Record<string, unknown>;
interface Reply {
  status: number;
  headers: Headers;
  body: Json;
}
interface FaultBody extends Json {
  id: string;
  state: string;
  affected: { vmId: string; applied: boolean; effect: string }[];
}

const ASSEMBLY_ID = '0b7a3c52-6c1f-4d0e-9a57-1f2e3d4c5b6a';
const DEPLOYABLE_ID = '5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716';

let sim: RunningSimulator;
let network: InMemoryAgentNetwork;
let token: string;
let ec2: EC2Client;

beforeEach(async () => {
  network = new InMemoryAgentNetwork();
  sim = await startSimulator({ agents: { network, timings: { agentStart: 0, resourceStart: 0, jitter: 0 }, tickMs: 10 } });
  token = await adminToken(sim.url);
  ec2 = new EC2Client({ endpoint: `${sim.url}/ec2/`, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'anything' }, maxAttempts: 1 });
});
afterEach(async () => {
  ec2.destroy();
  await sim.stop();
});

async function call(method: string, url: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const response = await fetch(url, {
    method,
    headers: { 'Content-Type': 'application/json', ...options.headers },
    ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? {} : (JSON.parse(text) as Json) };
}

const control = (method: string, path: string, body?: unknown): Promise<Reply> => call(method, `${sim.url}/_sim${path}`, body === undefined ? {} : { body });
const nova = (method: string, path: string, body?: unknown): Promise<Reply> => call(method, `${sim.url}/compute/v2.1${path}`, { headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': 'compute 2.60' }, ...(body === undefined ? {} : { body }) });

async function inject(spec: Json): Promise<FaultBody> {
  const reply = await control('POST', '/faults', spec);
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  expect(reply.headers.get('location')).toBe(`/_sim/faults/${String(reply.body.id)}`);
  return reply.body as FaultBody;
}

function agentUserData(): string {
  return encodeAgentConfig({ protocol: 1, brokerUrl: 'amqp://sim', exchange: 'defib.agents', deployableId: DEPLOYABLE_ID, assemblyId: ASSEMBLY_ID, key: testAgentKeyText(ASSEMBLY_ID), assembly: 'db', heartbeatIntervalMs: 1_000, resources: [{ name: 'mysqld', monitorIntervalMs: 1_000 }] });
}

/** Creates a server through Nova; it is ACTIVE once the test advances the build time. */
async function createServer(extra: Json = {}): Promise<string> {
  const imageRef = sim.simulator.clouds.get('sim-openstack')?.images[0]?.id ?? '';
  const reply = await nova('POST', '/servers', { server: { name: 'db-1', imageRef, flavorRef: '2', networks: 'auto', ...extra } });
  expect(reply.status).toBe(202);
  return (reply.body.server as { id: string }).id;
}

async function serverStatus(id: string): Promise<string> {
  const reply = await nova('GET', `/servers/${id}`);
  return String((reply.body.server as Json).status);
}

async function runInstance(): Promise<string> {
  const imageId = sim.simulator.clouds.get('sim-ec2')?.images[0]?.id ?? '';
  const result = await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
  return result.Instances?.[0]?.InstanceId ?? '';
}

async function describeInstance(id: string): Promise<Instance> {
  const result = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const instance = result.Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Error(`no instance ${id}`);
  return instance;
}

async function ec2Error(promise: Promise<unknown>): Promise<EC2ServiceException> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EC2ServiceException) return error;
    throw error;
  }
  throw new Error('the call succeeded');
}

/** Heartbeats of the test assembly, by the simulated time they were sent. */
function beats(): Heartbeat[] {
  return network.bodies(`heartbeat.${ASSEMBLY_ID}`) as Heartbeat[];
}

const sentBetween = (from: number, to: number): Heartbeat[] => beats().filter((beat) => beat.sentAt > from && beat.sentAt <= to);

describe('VM faults through the control API', () => {
  it('crashes a Nova server to SHUTOFF', async () => {
    const id = await createServer();
    sim.clock.advance(testTimings.build);
    const fault = await inject({ kind: 'vm-crash', target: { vm: id } });
    expect(fault).toMatchObject({ kind: 'vm-crash', state: 'completed', affected: [{ vmId: id, applied: true }] });
    expect(await serverStatus(id)).toBe('SHUTOFF');
  });

  it('crashes an EC2 instance to ERROR, shown as stopped with a server error reason', async () => {
    const id = await runInstance();
    sim.clock.advance(testTimings.build);
    await inject({ kind: 'vm-crash', target: { cloud: 'sim-ec2', vm: id }, to: 'error' });
    const instance = await describeInstance(id);
    expect(instance.State).toEqual({ Code: 80, Name: 'stopped' });
    expect(instance.StateReason?.Code).toBe('Server.InternalError');
  });

  it('fails every server on a failed host with ERROR', async () => {
    const ids = [await createServer(), await createServer(), await createServer(), await createServer()];
    sim.clock.advance(testTimings.build);
    const host = sim.simulator.clouds.get('sim-openstack')?.require(ids[0] ?? '').host ?? '';
    const fault = await inject({ kind: 'host-failure', target: { cloud: 'sim-openstack', host } });
    const struck = fault.affected.map((vm) => vm.vmId);
    expect(struck).toContain(ids[0]);
    for (const id of ids) expect(await serverStatus(id)).toBe(struck.includes(id) ? 'ERROR' : 'ACTIVE');
  });

  it('ends the builds of matching servers in ERROR while a boot failure is active', async () => {
    const fault = await inject({ kind: 'boot-failure', target: { cloud: 'sim-openstack' } });
    const failing = await createServer();
    sim.clock.advance(testTimings.build - 1);
    expect(await serverStatus(failing)).toBe('BUILD');
    sim.clock.advance(1);
    expect(await serverStatus(failing)).toBe('ERROR');
    const server = (await nova('GET', `/servers/${failing}`)).body.server as Json;
    expect(server.fault).toMatchObject({ code: 500, message: `boot failure (fault ${fault.id})` });
    expect((await control('DELETE', `/faults/${fault.id}`)).body).toMatchObject({ state: 'healed', healCause: 'healed' });
    const healthy = await createServer();
    sim.clock.advance(testTimings.build);
    expect(await serverStatus(healthy)).toBe('ACTIVE');
  });

  it('keeps a slowly booting EC2 instance pending for the added delay', async () => {
    await inject({ kind: 'slow-boot', target: { cloud: 'sim-ec2' }, delay: '20s' });
    const id = await runInstance();
    sim.clock.advance(testTimings.build + 19_999);
    expect((await describeInstance(id)).State?.Name).toBe('pending');
    sim.clock.advance(1);
    expect((await describeInstance(id)).State?.Name).toBe('running');
  });

  it('changes a server fixed address as Nova shows it', async () => {
    const id = await createServer();
    sim.clock.advance(testTimings.build);
    const addressesOf = async (): Promise<string[]> => Object.values(((await nova('GET', `/servers/${id}`)).body.server as { addresses: Record<string, { addr: string }[]> }).addresses).flatMap((list) => list.map((entry) => entry.addr));
    const before = await addressesOf();
    const fault = await inject({ kind: 'ip-change', target: { vm: id } });
    const after = await addressesOf();
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
    expect(fault.affected[0]?.effect).toBe(`${before[0]} → ${after[0]}`);
  });

  it('moves an EC2 instance public address', async () => {
    const id = await runInstance();
    sim.clock.advance(testTimings.build);
    const before = await describeInstance(id);
    await inject({ kind: 'ip-change', target: { vm: id }, fixed: false, floating: true });
    const after = await describeInstance(id);
    expect(after.PrivateIpAddress).toBe(before.PrivateIpAddress);
    expect(after.PublicIpAddress).toBeDefined();
    expect(after.PublicIpAddress).not.toBe(before.PublicIpAddress);
  });
});

describe('guest faults through the control API', () => {
  async function agentServer(): Promise<string> {
    const id = await createServer({ user_data: agentUserData() });
    sim.clock.advance(testTimings.build);
    sim.clock.advance(3_000);
    expect(sentBetween(sim.clock.now() - 3_000, sim.clock.now()).length).toBeGreaterThanOrEqual(2);
    return id;
  }

  it('hangs a VM: the API says ACTIVE, its heartbeats stop at the injection and resume once healed', async () => {
    const id = await agentServer();
    const hungAt = sim.clock.now();
    const fault = await inject({ kind: 'vm-hang', target: { assembly: 'db' } });
    expect(fault.affected).toEqual([expect.objectContaining({ vmId: id, applied: true, effect: 'hung' })]);
    sim.clock.advance(5_000);
    expect(await serverStatus(id)).toBe('ACTIVE');
    expect(sim.simulator.agents.snapshot(id)).toMatchObject({ silent: true, hung: true });
    expect(sentBetween(hungAt, hungAt + 5_000)).toEqual([]);
    const healedAt = sim.clock.now();
    await control('DELETE', `/faults/${fault.id}`);
    sim.clock.advance(3_000);
    expect(sentBetween(healedAt, healedAt + 3_000).length).toBeGreaterThanOrEqual(2);
  });

  it('partitions an agent for its duration: no beats until it ends, then beats again without any healing call', async () => {
    const id = await agentServer();
    const from = sim.clock.now();
    await inject({ kind: 'agent-partition', target: { vm: id }, duration: '10s' });
    expect(sim.simulator.agents.snapshot(id)).toMatchObject({ partitionedUntil: from + 10_000 });
    sim.clock.advance(10_000);
    expect(sentBetween(from, from + 9_999)).toEqual([]);
    sim.clock.advance(2_000);
    expect(sentBetween(from + 10_000, from + 12_000).length).toBeGreaterThanOrEqual(1);
    expect(await serverStatus(id)).toBe('ACTIVE');
    expect((await control('GET', '/faults?state=healed')).body.faults).toEqual([expect.objectContaining({ kind: 'agent-partition', healCause: 'expired' })]);
  });

  it('crashes a resource: the next heartbeats report it failed', async () => {
    const id = await agentServer();
    await inject({ kind: 'resource-no-restart', target: { vm: id }, resource: 'mysqld' });
    sim.clock.advance(2_000);
    expect(beats().at(-1)?.resources).toEqual([expect.objectContaining({ name: 'mysqld', state: 'failed' })]);
    expect(sim.simulator.agents.snapshot(id)?.resources).toEqual([expect.objectContaining({ name: 'mysqld', fault: 'no-restart' })]);
  });

  it('reports a VM without an agent as not affected', async () => {
    const id = await createServer();
    sim.clock.advance(testTimings.build);
    const fault = await inject({ kind: 'vm-hang', target: { vm: id } });
    expect(fault.affected).toEqual([expect.objectContaining({ vmId: id, applied: false, effect: 'no agent' })]);
  });
});

describe('cloud API faults', () => {
  it('throttles Nova with 429 and Retry-After, and EC2 with RequestLimitExceeded', async () => {
    await inject({ kind: 'api-throttle', target: { cloud: 'sim-openstack' }, retryAfter: '3s' });
    const throttled = await nova('GET', '/servers');
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('3');
    await inject({ kind: 'api-throttle', target: { cloud: 'sim-ec2' }, operations: ['RunInstances'], perSecond: 1, burst: 1 });
    await runInstance();
    const error = await ec2Error(runInstance());
    expect(error.name).toBe('RequestLimitExceeded');
    expect(error.$metadata.httpStatusCode).toBe(503);
    await ec2.send(new DescribeInstancesCommand({}));
  });

  it('answers 503 during an outage window on both providers, and recovers when it ends', async () => {
    await inject({ kind: 'api-outage', target: { cloud: 'sim-openstack' }, duration: '30s' });
    await inject({ kind: 'api-outage', target: { cloud: 'sim-ec2' }, duration: '30s' });
    expect((await nova('GET', '/servers')).status).toBe(503);
    const error = await ec2Error(ec2.send(new DescribeInstancesCommand({})));
    expect(error.$metadata.httpStatusCode).toBe(503);
    sim.clock.advance(30_000);
    expect((await nova('GET', '/servers')).status).toBe(200);
    await ec2.send(new DescribeInstancesCommand({}));
  });

  it('fails calls with a 500 at the error rate, only for the listed operations', async () => {
    await inject({ kind: 'api-error', target: { cloud: 'sim-openstack' }, operations: ['servers.create'], rate: 1 });
    const imageRef = sim.simulator.clouds.get('sim-openstack')?.images[0]?.id ?? '';
    const refused = await nova('POST', '/servers', { server: { name: 'x', imageRef, flavorRef: '2', networks: 'auto' } });
    expect(refused.status).toBe(500);
    expect(refused.body.computeFault).toBeDefined();
    expect((await nova('GET', '/servers')).status).toBe(200);
  });

  it('holds each call until the clock has passed the added latency', async () => {
    await inject({ kind: 'api-latency', target: { cloud: 'sim-openstack' }, latency: '2s' });
    const pendingBefore = sim.clock.pendingCount;
    let settled = false;
    const reply = nova('GET', '/servers').then((result) => {
      settled = true;
      return result;
    });
    await waitFor(() => (sim.clock.pendingCount > pendingBefore ? true : undefined), { timeoutMs: 5_000, what: 'the call to wait on the clock' });
    sim.clock.advance(1_999);
    expect(settled).toBe(false);
    sim.clock.advance(1);
    expect((await reply).status).toBe(200);
  });
});

describe('fault control API', () => {
  it('lists, shows and heals faults', async () => {
    const fault = await inject({ kind: 'api-outage', target: { cloud: 'sim-ec2' } });
    expect((await control('GET', '/faults')).body.faults).toEqual([expect.objectContaining({ id: fault.id, state: 'active', spec: { kind: 'api-outage', target: { cloud: 'sim-ec2' } } })]);
    expect((await control('GET', `/faults/${fault.id}`)).body).toMatchObject({ id: fault.id, injectedAt: { simTimeMs: 0 } });
    sim.clock.advance(5_000);
    const healed = await control('DELETE', `/faults/${fault.id}`);
    expect(healed).toMatchObject({ status: 200, body: { state: 'healed', healedAt: { simTimeMs: 5_000 } } });
    expect((await control('DELETE', `/faults/${fault.id}`)).status).toBe(200);
    expect((await control('GET', '/faults?state=active')).body.faults).toEqual([]);
  });

  it('answers an invalid fault with a 400 problem naming the field', async () => {
    const cases: [Json, string][] = [
      [{ kind: 'vm-crash' }, 'target'],
      [{ kind: 'agent-partition', target: { vm: 'x' }, duration: 'soon' }, 'duration'],
      [{ kind: 'api-error', target: { cloud: 'sim-ec2' }, rate: 2 }, 'rate'],
      [{ kind: 'vm-crash', target: { vm: 'x' }, colour: 'red' }, 'colour'],
      [{ kind: 'meteor', target: { vm: 'x' } }, 'kind'],
    ];
    for (const [body, field] of cases) {
      const reply = await control('POST', '/faults', body);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.headers.get('content-type')).toContain('application/problem+json');
      expect((reply.body.issues as { path: string }[]).map((issue) => issue.path), JSON.stringify(reply.body)).toContain(field);
    }
    expect((await control('POST', '/faults', '{"kind":')).status).toBe(400);
  });

  it('answers unknown targets and faults with a 404 problem', async () => {
    for (const target of [{ vm: 'no-such-vm' }, { cloud: 'no-such-cloud' }, { host: 'no-such-host' }, { assembly: 'no-such-assembly' }]) {
      const reply = await control('POST', '/faults', { kind: 'vm-crash', target });
      expect(reply.status).toBe(404);
      expect(reply.headers.get('content-type')).toContain('application/problem+json');
      expect(reply.body).toMatchObject({ status: 404, code: 'not_found', issues: [{ path: `target.${Object.keys(target)[0] ?? ''}` }] });
    }
    const missing = await control('GET', '/faults/flt-000000000000');
    expect(missing).toMatchObject({ status: 404, body: { code: 'not_found', detail: 'fault "flt-000000000000" not found' } });
    expect((await control('DELETE', '/faults/flt-000000000000')).status).toBe(404);
  });

  it('clears faults and their effects on reset', async () => {
    await inject({ kind: 'api-outage', target: { cloud: 'sim-openstack' } });
    expect((await control('POST', '/reset')).status).toBe(204);
    expect((await control('GET', '/faults')).body.faults).toEqual([]);
    expect((await nova('GET', '/servers')).status).toBe(200);
  });
});
