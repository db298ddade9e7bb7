import { cloudConnectionSchema, type DomainEvent } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ec2Cloud, openstackCloud, READ_TOKEN, SERVICE_TOKEN, startRegistry, type RegistryHarness } from './registry-harness.ts';

const SECRETS = [openstackCloud.credentials.password, ec2Cloud.credentials.secretAccessKey, ec2Cloud.credentials.accessKeyId];

describe("registry: a cloud's connection for Defib's services", () => {
  let registry: RegistryHarness;

  beforeAll(async () => {
    registry = await startRegistry();
    await registry.json('PUT', '/v1/clouds/sim-openstack', 201, { body: openstackCloud });
    await registry.json('PUT', '/v1/clouds/sim-ec2', 201, { body: ec2Cloud });
  });

  afterAll(async () => {
    await registry?.close();
  });

  const defaultLimits = { requestsPerSecond: 10, concurrency: 10 };

  it('gives a service token the full registration, credentials included, and asks not to cache it', async () => {
    const response = await registry.request('GET', '/v1/clouds/sim-openstack/connection', { token: SERVICE_TOKEN });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { updatedAt, ...connection } = cloudConnectionSchema.parse(await response.json());
    expect(connection).toEqual({ name: 'sim-openstack', registration: { ...openstackCloud, interface: 'public', limits: defaultLimits } });
    expect(Date.parse(updatedAt)).toBeLessThanOrEqual(Date.now());
    const { updatedAt: _updatedAt, ...ec2 } = await registry.json<Record<string, unknown>>('GET', '/v1/clouds/sim-ec2/connection', 200, { token: SERVICE_TOKEN });
    expect(ec2).toEqual({ name: 'sim-ec2', registration: { ...ec2Cloud, limits: defaultLimits } });
  });

  it('says when the registration last changed, later for every change', async () => {
    const before = cloudConnectionSchema.parse(await registry.json('GET', '/v1/clouds/sim-ec2/connection', 200, { token: SERVICE_TOKEN }));
    await registry.json('PUT', '/v1/clouds/sim-ec2', 200, { body: ec2Cloud });
    const after = cloudConnectionSchema.parse(await registry.json('GET', '/v1/clouds/sim-ec2/connection', 200, { token: SERVICE_TOKEN }));
    expect(Date.parse(after.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
  });

  it('gives it to the admin token too', async () => {
    await registry.json('GET', '/v1/clouds/sim-ec2/connection', 200);
  });

  it('refuses a request without a token with 401', async () => {
    expect((await registry.request('GET', '/v1/clouds/sim-openstack/connection', { token: null })).status).toBe(401);
  });

  it('refuses a read token with 403, and an unknown token with 401', async () => {
    expect((await registry.request('GET', '/v1/clouds/sim-openstack/connection', { token: READ_TOKEN })).status).toBe(403);
    expect((await registry.request('GET', '/v1/clouds/sim-openstack/connection', { token: 'not-a-token-of-this-registry' })).status).toBe(401);
  });

  it('answers 404 for an unknown cloud and 400 for a bad name', async () => {
    expect((await registry.request('GET', '/v1/clouds/nowhere/connection', { token: SERVICE_TOKEN })).status).toBe(404);
    expect((await registry.request('GET', '/v1/clouds/Not_A_Name/connection', { token: SERVICE_TOKEN })).status).toBe(400);
  });

  it('lets a service token read but not write', async () => {
    expect((await registry.request('GET', '/v1/clouds', { token: SERVICE_TOKEN })).status).toBe(200);
    expect((await registry.request('DELETE', '/v1/clouds/sim-ec2', { token: SERVICE_TOKEN })).status).toBe(403);
  });

  it('documents the route as service-scoped', async () => {
    const document = await registry.json<{ paths: Record<string, { get: { 'x-defib-scope': string; responses: Record<string, unknown> } }> }>('GET', '/openapi.json', 200);
    const operation = document.paths['/v1/clouds/{name}/connection']?.get;
    expect(operation?.['x-defib-scope']).toBe('service');
    expect(Object.keys(operation?.responses ?? {})).toEqual(expect.arrayContaining(['200', '401', '403', '404']));
  });

  it('never puts credentials in cloud events, other responses or log lines', async () => {
    const registered = await registry.eventMatching(
      (event): event is DomainEvent<'cloud.registered'> => event.type === 'cloud.registered' && event.subject.cloud === 'sim-ec2',
      'cloud.registered for sim-ec2',
    );
    const listed = await (await registry.request('GET', '/v1/clouds', { token: READ_TOKEN })).text();
    const shown = await (await registry.request('GET', '/v1/clouds/sim-ec2', { token: SERVICE_TOKEN })).text();
    for (const secret of SECRETS) {
      expect(JSON.stringify(registered)).not.toContain(secret);
      expect(listed).not.toContain(secret);
      expect(shown).not.toContain(secret);
      expect(registry.logs.join('\n')).not.toContain(secret);
    }
  });
});
