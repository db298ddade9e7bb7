/**
 * What the simulator has like every Defib service, from the platform's HTTP bootstrap: readiness
 * (its agents' broker), Prometheus metrics of the simulated world, an OpenAPI document of the
 * control API, and bearer tokens guarding the control API once configured.
 */
import { randomUUID } from 'node:crypto';
import { AGENT_PROTOCOL_VERSION, encodeAgentConfig } from '@defib/contracts';
import { testAgentKeyText } from '@defib/contracts/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryAgentNetwork } from '../src/agents/in-memory-agent-network.ts';
import { adminToken, startSimulator, testTimings } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';

const ADMIN = 'sim-admin-token-0123456789';
const READER = 'sim-reader-token-0123456789';
const BROKER_URL = 'amqp://broker.test:5672';

type Json = Record<string, unknown>;

let sim: RunningSimulator;
let network: InMemoryAgentNetwork;

async function start(options: Parameters<typeof startSimulator>[0] = {}): Promise<RunningSimulator> {
  network = new InMemoryAgentNetwork();
  sim = await startSimulator({ agents: { network, timings: { agentStart: 0, resourceStart: 0, jitter: 0 }, tickMs: 10 }, ...options });
  return sim;
}
afterEach(() => sim.stop());

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Json; text: string }> {
  const response = await fetch(`${sim.url}${path}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: /json/.test(response.headers.get('content-type') ?? '') && text !== '' ? (JSON.parse(text) as Json) : {} };
}

/** Creates an EC2 VM (with an agent of assembly `db` unless `agent` is false) and lets it boot. */
function launch(options: { agent?: boolean; name?: string } = {}): { vmId: string; assemblyId: string } {
  const cloud = sim.simulator.clouds.get('sim-ec2');
  if (!cloud) throw new Error('no cloud');
  const assemblyId = randomUUID();
  const userData =
    options.agent === false
      ? null
      : encodeAgentConfig({
          protocol: AGENT_PROTOCOL_VERSION,
          brokerUrl: BROKER_URL,
          exchange: 'defib.agents',
          deployableId: randomUUID(),
          assemblyId,
          key: testAgentKeyText(assemblyId),
          assembly: options.name ?? 'db',
          heartbeatIntervalMs: 1_000,
          resources: [{ name: 'mysqld', monitorIntervalMs: 1_000 }],
        });
  const [vm] = cloud.create({ name: options.name ?? 'db', imageId: cloud.images[0]?.id ?? '', flavorId: 't3.micro', userData });
  if (!vm) throw new Error('no VM created');
  sim.clock.advance(testTimings.build);
  return { vmId: vm.id, assemblyId };
}

describe('simulator readiness', () => {
  it('is ready without agents, whatever the broker', async () => {
    await start();
    network.connected = false;
    launch({ agent: false });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { 'agent-broker': { status: 'ok' } } });
  });

  it('is ready while its agents reach their broker, and not while they cannot', async () => {
    await start();
    launch();
    expect((await get('/readyz')).status).toBe(200);
    network.connected = false;
    const down = await get('/readyz');
    expect(down.status).toBe(503);
    expect(down.headers.get('content-type')).toContain('application/problem+json');
    expect(down.body).toMatchObject({ detail: 'not ready: agent-broker', checks: { 'agent-broker': { status: 'failed', reason: 'BROKER_UNREACHABLE' } } });
    expect(down.text).not.toContain('broker.test');
    network.connected = true;
    expect((await get('/readyz')).status).toBe(200);
  });

  it('answers /healthz on the platform', async () => {
    await start();
    const health = await get('/healthz');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(health.headers.get('x-correlation-id')).not.toBeNull();
  });
});

describe('simulator metrics', () => {
  it('counts VMs per cloud and phase, agents, heartbeats, broker connections, faults and cloud API calls', async () => {
    await start();
    const { vmId } = launch();
    sim.clock.advance(3_000);
    const ec2 = sim.simulator.clouds.get('sim-ec2');
    ec2?.create({ name: 'spare', imageId: ec2.images[0]?.id ?? '', flavorId: 't3.micro' });
    const injected = await fetch(`${sim.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'api-outage', target: { cloud: 'sim-openstack' } }) });
    expect(injected.status).toBe(201);
    const token = await adminToken(sim.url);
    expect((await fetch(`${sim.url}/compute/v2.1/servers`, { headers: { 'X-Auth-Token': token } })).status).toBe(503);

    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    const line = (name: string, labels: Record<string, string>): number | undefined => {
      const found = metrics.text.split('\n').find((candidate) => candidate.startsWith(`${name}{`) && Object.entries(labels).every(([key, value]) => candidate.includes(`${key}="${value}"`)));
      return found === undefined ? undefined : Number(found.slice(found.lastIndexOf(' ') + 1));
    };
    expect(line('defib_sim_vms', { cloud: 'sim-ec2', phase: 'running' })).toBe(1);
    expect(line('defib_sim_vms', { cloud: 'sim-ec2', phase: 'building' })).toBe(1);
    expect(line('defib_sim_vms', { cloud: 'sim-openstack', phase: 'running' })).toBe(0);
    expect(metrics.text).toMatch(/^defib_sim_agents_running\{service="simulator"\} 1$/m);
    expect(line('defib_sim_heartbeats_total', { outcome: 'published' })).toBe(network.bodies(`heartbeat.${sim.simulator.agents.snapshot(vmId)?.assemblyId ?? ''}`).length);
    expect(line('defib_sim_heartbeats_total', { outcome: 'published' })).toBeGreaterThanOrEqual(3);
    expect(line('defib_sim_agent_broker_connections', { state: 'up' })).toBe(1);
    expect(line('defib_sim_faults_active', { kind: 'api-outage' })).toBe(1);
    expect(line('defib_sim_faults_active', { kind: 'vm-crash' })).toBe(0);
    expect(line('defib_sim_cloud_api_requests_total', { cloud: 'sim-openstack', operation: 'servers.list', outcome: 'unavailable' })).toBe(1);
    // Provider APIs are measured under their mount, so labels stay bounded.
    expect(metrics.text).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/compute\/\*"[^}]*status="503"/);
    expect(metrics.text).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/_sim\/faults"[^}]*status="201"/);
  });
});

describe('simulator OpenAPI document', () => {
  it('describes the control API and not the provider APIs', async () => {
    await start();
    const { status, body } = await get('/openapi.json');
    expect(status).toBe(200);
    const paths = body.paths as Record<string, Record<string, Json>>;
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining(['/_sim/clouds', '/_sim/reset', '/_sim/agents', '/_sim/agents/{vmId}', '/_sim/faults', '/_sim/faults/{id}', '/_sim/timeline', '/_sim/scenarios', '/_sim/scenarios/current', '/healthz', '/readyz', '/metrics']),
    );
    expect(Object.keys(paths).filter((path) => !path.startsWith('/_sim/') && !['/healthz', '/readyz', '/metrics', '/openapi.json'].includes(path))).toEqual([]);
    expect(Object.keys((paths['/_sim/scenarios']?.post?.requestBody as { content: Json }).content)).toEqual(['application/yaml', 'application/x-yaml', 'text/yaml', 'application/json']);
    expect(paths['/_sim/faults']?.post).toMatchObject({ operationId: 'injectFault', 'x-defib-scope': 'public' });
    expect(paths['/_sim/timeline']?.get?.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'since', in: 'query' })]));
  });

  it('marks the control routes as guarded when tokens are configured', async () => {
    await start({ http: { auth: { adminToken: ADMIN, readTokens: [READER], openReads: false } } });
    const paths = (await get('/openapi.json')).body.paths as Record<string, Record<string, Json>>;
    expect(paths['/_sim/faults']?.post?.['x-defib-scope']).toBe('write');
    expect(paths['/_sim/faults']?.get?.['x-defib-scope']).toBe('read');
    expect(paths['/readyz']?.get?.['x-defib-scope']).toBe('public');
  });
});

describe('simulator agents api', () => {
  it('lists the running agents, by VM or assembly (id or name)', async () => {
    await start();
    const db = launch({ name: 'db' });
    const web = launch({ name: 'web' });
    launch({ agent: false, name: 'plain' });
    sim.clock.advance(2_000);

    const all = await get('/_sim/agents');
    expect(all.status).toBe(200);
    const agents = all.body.agents as Json[];
    expect(agents.map((agent) => agent.vmId).sort()).toEqual([db.vmId, web.vmId].sort());
    expect(agents.find((agent) => agent.vmId === db.vmId)).toMatchObject({
      assemblyId: db.assemblyId,
      silent: false,
      hung: false,
      partitioned: false,
      partitionedUntil: null,
      resources: [{ name: 'mysqld', state: 'running' }],
    });
    expect((agents[0]?.sequence as number) > 0).toBe(true);

    expect(((await get(`/_sim/agents?vm=${web.vmId}`)).body.agents as Json[]).map((agent) => agent.vmId)).toEqual([web.vmId]);
    expect(((await get('/_sim/agents?assembly=db')).body.agents as Json[]).map((agent) => agent.vmId)).toEqual([db.vmId]);
    expect(((await get(`/_sim/agents?assembly=${web.assemblyId}`)).body.agents as Json[]).map((agent) => agent.vmId)).toEqual([web.vmId]);
    expect((await get('/_sim/agents?assembly=nothing')).body.agents).toEqual([]);
  });

  it('shows one agent, partitioned until healed, and 404 for a VM without one', async () => {
    await start();
    const { vmId } = launch();
    const fault = await fetch(`${sim.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'agent-partition', target: { vm: vmId } }) });
    expect(fault.status).toBe(201);
    expect(await get(`/_sim/agents/${vmId}`)).toMatchObject({ status: 200, body: { vmId, silent: true, partitioned: true, partitionedUntil: null } });

    const plain = launch({ agent: false });
    for (const id of [plain.vmId, 'i-nothing']) {
      const missing = await get(`/_sim/agents/${id}`);
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toContain('application/problem+json');
      expect(missing.body).toMatchObject({ code: 'not_found' });
    }
  });

  it('names an unknown filter', async () => {
    await start();
    const reply = await get('/_sim/agents?colour=red');
    expect(reply.status).toBe(400);
    expect(reply.body.issues).toEqual([expect.objectContaining({ path: 'query.colour' })]);
  });
});

describe('simulator control api auth', () => {
  it('is open by default', async () => {
    await start();
    expect((await fetch(`${sim.url}/_sim/reset`, { method: 'POST' })).status).toBe(204);
    expect((await get('/_sim/faults')).status).toBe(200);
  });

  it('requires tokens once configured: reads a read token, changes the admin token', async () => {
    await start({ http: { auth: { adminToken: ADMIN, readTokens: [READER], openReads: false } } });
    const anonymous = await get('/_sim/clouds');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toContain('application/problem+json');
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await get('/_sim/clouds', { authorization: `Bearer ${READER}` })).status).toBe(200);
    expect((await get('/_sim/agents', { authorization: `Bearer ${READER}` })).status).toBe(200);

    expect((await fetch(`${sim.url}/_sim/reset`, { method: 'POST' })).status).toBe(401);
    const asReader = await fetch(`${sim.url}/_sim/reset`, { method: 'POST', headers: { authorization: `Bearer ${READER}` } });
    expect(asReader.status).toBe(403);
    expect(asReader.headers.get('www-authenticate')).toContain('insufficient_scope');
    const inject = (authorization: string): Promise<Response> =>
      fetch(`${sim.url}/_sim/faults`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'api-outage', target: { cloud: 'sim-ec2' } }) });
    expect((await inject(`Bearer ${READER}`)).status).toBe(403);
    expect((await inject(`Bearer ${ADMIN}`)).status).toBe(201);
    expect((await fetch(`${sim.url}/_sim/reset`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(204);
  });

  it('keeps the probes open and the provider APIs on their own auth', async () => {
    await start({ http: { auth: { adminToken: ADMIN, readTokens: [], openReads: false } } });
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) expect((await get(path)).status, path).toBe(200);
    const token = await adminToken(sim.url);
    expect((await fetch(`${sim.url}/compute/v2.1/servers`, { headers: { 'X-Auth-Token': token } })).status).toBe(200);
    const refused = await fetch(`${sim.url}/compute/v2.1/servers`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toContain('application/json');
    expect(((await refused.json()) as Json).error).toMatchObject({ code: 401 });
  });
});
