/**
 * The OpenStack driver on the error paths a real cloud takes and the simulator cannot produce on
 * demand, scripted with nock: tokens refused or expiring, throttling, truncated answers, resets,
 * hangs, DNS failures, Nova's error documents, and launches whose create had an unknown outcome.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { openstackRegistrationSchema } from '@defib/contracts';
import { ManualClock } from '@defib/platform/testing';
import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCloudCaller, type RetryPolicy } from '../driver/cloud-call.ts';
import type { CloudDriver, LaunchRequest } from '../driver/cloud-driver.ts';
import type { CloudError } from '../driver/cloud-error.ts';
import { CloudLimiter } from '../driver/cloud-limiter.ts';
import { createOpenstackDriver } from './openstack-driver.ts';
import { cloudFailure as failure } from '../testing.ts';

const keystone = 'http://keystone.test:5000';
const nova = 'http://nova.test:8774';
const glance = 'http://glance.test:9292';
const neutron = 'http://neutron.test:9696';
const password = 'correct-horse-battery-staple';
const serverId = '6f1a7c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
const imageId = '0b7a3c52-6c1f-4d0e-9a57-1f2e3d4c5b6a';
const networkId = '5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716';

const catalog = (services: readonly string[] = ['compute', 'image', 'network'], computeUrl = `${nova}/v2.1`) =>
  [
    { type: 'compute', url: computeUrl },
    { type: 'image', url: glance },
    { type: 'network', url: neutron },
  ]
    .filter((service) => services.includes(service.type))
    .map((service) => ({ type: service.type, name: service.type, endpoints: [{ interface: 'public', region_id: 'RegionOne', region: 'RegionOne', url: service.url }] }));

/** Keystone issuing `token`, valid for an hour from `issuedAt`. */
function tokenIssued(token: string, options: { issuedAt?: number; services?: readonly string[]; computeUrl?: string } = {}) {
  const issuedAt = options.issuedAt ?? Date.UTC(2025, 0, 1);
  return nock(keystone)
    .post('/v3/auth/tokens')
    .reply(
      201,
      { token: { issued_at: new Date(issuedAt).toISOString(), expires_at: new Date(issuedAt + 3_600_000).toISOString(), catalog: catalog(options.services, options.computeUrl) } },
      { 'X-Subject-Token': token },
    );
}

const server = (overrides: Record<string, unknown> = {}) => ({
  id: serverId,
  name: 'db-1',
  status: 'ACTIVE',
  'OS-EXT-STS:task_state': null,
  'OS-EXT-AZ:availability_zone': 'nova',
  hostId: 'a1b2c3',
  addresses: { private: [{ addr: '10.0.0.5', version: 4, 'OS-EXT-IPS:type': 'fixed' }] },
  metadata: { 'defib-action': 'action-1', 'defib-managed': 'true' },
  tags: ['defib'],
  updated: '2025-01-01T00:00:10Z',
  ...overrides,
});

const fastPolicy: Partial<RetryPolicy> = { attemptTimeoutMs: 1_000, initialDelayMs: 10, maxDelayMs: 40, budgetMs: 400, maxAttempts: 8 };

function driverWith(options: { clock?: ManualClock; policy?: Partial<RetryPolicy>; network?: string; pageSize?: number; settleMs?: number; authUrl?: string } = {}): CloudDriver {
  const registration = openstackRegistrationSchema.parse({
    provider: 'openstack',
    authUrl: options.authUrl ?? `${keystone}/v3`,
    region: 'RegionOne',
    credentials: { username: 'defib', password, project: 'ops', domain: 'Default' },
    ...(options.network === undefined ? {} : { network: options.network }),
  });
  const caller = createCloudCaller({ cloud: 'test-cloud', limiter: new CloudLimiter({ requestsPerSecond: 10_000, concurrency: 10 }), policy: { ...fastPolicy, ...options.policy } });
  return createOpenstackDriver({ cloud: 'test-cloud', registration, caller, settleMs: options.settleMs ?? 0, ...(options.clock ? { clock: options.clock } : {}), ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }) });
}

/** Every error must name the cloud and never carry the password or a token. */
function expectClean(error: CloudError, operation: string): void {
  expect(error.message).toContain(`cloud test-cloud: ${operation} failed`);
  for (const secret of [password, 'token-a', 'token-b']) expect(error.message).not.toContain(secret);
}

const launchRequest: LaunchRequest = { actionId: 'action-1', name: 'db-1', image: 'fedora-40', flavor: 'm1.small', userData: 'hello' };

/** Glance and Nova knowing the launch's image and flavor. */
function namesKnown(): void {
  nock(glance).get('/v2/images').query({ name: 'fedora-40' }).reply(200, { images: [{ id: imageId, name: 'fedora-40', status: 'active' }] });
  nock(nova).get('/v2.1/flavors').query(true).reply(200, { flavors: [{ id: '2', name: 'm1.small' }] });
}

/** Nova's answer to the launch's lookup of servers of its action: `servers`. */
function lookupFinds(servers: readonly object[]): nock.Scope {
  return nock(nova).get('/v2.1/servers/detail').query({ tags: 'defib', name: '^db-1$', limit: '1000' }).reply(200, { servers });
}

/** A token, the launch's image and flavor known, and Neutron showing `networks`. */
function namesAndNetworksKnown(networks: readonly object[]): void {
  tokenIssued('token-a');
  namesKnown();
  nock(neutron).get('/v2.0/networks').reply(200, { networks });
}

/** A token, the launch's names known, no network to choose from, no server of the action yet. */
function readyToCreate(): void {
  namesAndNetworksKnown([]);
  lookupFinds([]);
}

beforeEach(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('openstack driver: tokens', () => {
  it('authenticates again once when a service refuses the token, then succeeds', async () => {
    tokenIssued('token-a');
    nock(nova).get(`/v2.1/servers/${serverId}`).matchHeader('x-auth-token', 'token-a').reply(401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    tokenIssued('token-b');
    nock(nova).get(`/v2.1/servers/${serverId}`).matchHeader('x-auth-token', 'token-b').reply(200, { server: server() });
    expect(await driverWith().describe(serverId)).toMatchObject({ id: serverId, state: 'running' });
    expect(nock.isDone()).toBe(true);
  });

  it('gives an auth error when a fresh token is refused too', async () => {
    tokenIssued('token-a');
    tokenIssued('token-b');
    nock(nova).get(`/v2.1/servers/${serverId}`).times(2).reply(401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    const error = await failure(driverWith().describe(serverId));
    expect(error).toMatchObject({ kind: 'auth', status: 401 });
    expect(error.detail).toMatch(/refused a fresh token/);
    expectClean(error, 'describe');
  });

  it('renews the token a minute before it expires, on the injected clock', async () => {
    const clock = new ManualClock(Date.UTC(2025, 0, 1));
    const driver = driverWith({ clock });
    tokenIssued('token-a', { issuedAt: clock.now() });
    nock(nova).get(`/v2.1/servers/${serverId}`).matchHeader('x-auth-token', 'token-a').times(2).reply(200, { server: server() });
    await driver.describe(serverId);
    clock.advance(58 * 60_000);
    await driver.describe(serverId);
    clock.advance(60_000);
    tokenIssued('token-b', { issuedAt: clock.now() });
    nock(nova).get(`/v2.1/servers/${serverId}`).matchHeader('x-auth-token', 'token-b').reply(200, { server: server() });
    await driver.describe(serverId);
    expect(nock.isDone()).toBe(true);
  });

  it('shares one authentication among concurrent calls', async () => {
    tokenIssued('token-a');
    nock(nova).get(`/v2.1/servers/${serverId}`).times(3).reply(200, { server: server() });
    const driver = driverWith();
    await Promise.all([driver.describe(serverId), driver.describe(serverId), driver.describe(serverId)]);
    expect(nock.isDone()).toBe(true);
  });

  it('says the credentials were refused for a wrong password, never echoing them', async () => {
    nock(keystone).post('/v3/auth/tokens').reply(401, { error: { code: 401, title: 'Unauthorized', message: `Invalid password ${password}` } });
    const error = await failure(driverWith().checkAccess());
    expect(error).toMatchObject({ kind: 'auth', operation: 'authenticate' });
    expect(error.detail).toMatch(/^Keystone refused the credentials of user defib in project ops/);
    expect(error.detail).toContain('[redacted]');
    expectClean(error, 'authenticate');
  });

  it('refuses a catalogue without Nova in the region', async () => {
    tokenIssued('token-a', { services: ['image'] });
    const error = await failure(driverWith().checkAccess());
    expect(error).toMatchObject({ kind: 'rejected', detail: 'the service catalogue has no compute service' });
  });
});

describe('openstack driver: failing answers', () => {
  it('honours Retry-After and succeeds once the cloud lets it', async () => {
    tokenIssued('token-a');
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(429, { overLimit: { code: 429, message: 'Too many requests' } }, { 'Retry-After': '1' });
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(200, { server: server() });
    const startedAt = Date.now();
    await driverWith({ policy: { budgetMs: 5_000 } }).describe(serverId);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(950);
  });

  it('gives up at once when the cloud asks to wait for minutes, beyond the budget', async () => {
    tokenIssued('token-a');
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(429, { overLimit: { code: 429, message: 'Too many requests' } }, { 'Retry-After': '300' });
    const error = await failure(driverWith().describe(serverId));
    expect(error).toMatchObject({ kind: 'throttled', retryAfterMs: 300_000 });
    expect(error.detail).toMatch(/gave up after 1 attempt/);
    expectClean(error, 'describe');
  });

  it('gives up within the budget when throttled without end', async () => {
    tokenIssued('token-a');
    nock(nova).get(`/v2.1/servers/detail`).query(true).times(100).reply(429, { overLimit: { code: 429, message: 'Too many requests' } });
    const startedAt = Date.now();
    const error = await failure(driverWith().list());
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(error).toMatchObject({ kind: 'throttled', operation: 'list' });
    expect(error.detail).toMatch(/overLimit: Too many requests.*gave up after \d+ attempts/);
  });

  it('calls a truncated JSON answer unavailable, saying so', async () => {
    tokenIssued('token-a');
    nock(nova).get(`/v2.1/servers/${serverId}`).times(100).reply(200, '{"server": {"id": "6f1a7c2e', { 'Content-Type': 'application/json' });
    const error = await failure(driverWith().describe(serverId));
    expect(error).toMatchObject({ kind: 'unavailable' });
    expect(error.detail).toMatch(/^GET \/servers\/[0-9a-f-]+ answered with a malformed body/);
  });

  it('calls a reset connection unavailable', async () => {
    tokenIssued('token-a');
    nock(nova).get(`/v2.1/servers/${serverId}`).times(100).replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    const error = await failure(driverWith().describe(serverId));
    expect(error).toMatchObject({ kind: 'unavailable', outcomeUnknown: true });
    expect(error.detail).toMatch(/connection reset \(ECONNRESET\)/);
  });

  it('times out a hanging connection, naming the cloud and the operation', async () => {
    // A real socket that accepts and never answers: what a wedged API node or a black-holing firewall does.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    nock.enableNetConnect('127.0.0.1');
    try {
      const { port } = silent.address() as AddressInfo;
      tokenIssued('token-a', { computeUrl: `http://127.0.0.1:${port}/v2.1` });
      const error = await failure(driverWith({ policy: { attemptTimeoutMs: 100, budgetMs: 250 } }).describe(serverId));
      expect(error).toMatchObject({ kind: 'unavailable', outcomeUnknown: true });
      expect(error.message).toMatch(/^cloud test-cloud: describe failed: no answer within the timeout \(gave up after \d attempts/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('says a host name that does not resolve cannot be resolved', async () => {
    // `.invalid` never resolves (RFC 2606): a real DNS failure, not a scripted one.
    nock.enableNetConnect('keystone.invalid');
    const error = await failure(driverWith({ authUrl: 'http://keystone.invalid:5000/v3' }).checkAccess());
    expect(error).toMatchObject({ kind: 'unavailable', outcomeUnknown: false, operation: 'authenticate' });
    expect(error.detail).toMatch(/^cannot resolve the host name \((ENOTFOUND|EAI_AGAIN)\)/);
  });

  it.each([
    [403, { forbidden: { code: 403, message: "Policy doesn't allow os_compute_api:servers:show to be performed." } }, 'auth', 'forbidden'],
    [403, { forbidden: { code: 403, message: 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances' } }, 'rejected', 'forbidden'],
    [404, { itemNotFound: { code: 404, message: `Instance ${serverId} could not be found.` } }, 'not-found', 'itemNotFound'],
    [409, { conflictingRequest: { code: 409, message: "Cannot 'reboot' instance while it is in vm_state stopped" } }, 'conflict', 'conflictingRequest'],
    [413, { overLimit: { code: 413, message: 'Request is too large.' } }, 'rejected', 'overLimit'],
    [400, { badRequest: { code: 400, message: 'Invalid input for field/attribute type.' } }, 'rejected', 'badRequest'],
  ] as const)('maps a %i %j to %s', async (status, body, kind, code) => {
    tokenIssued('token-a');
    nock(nova).post(`/v2.1/servers/${serverId}/action`).reply(status, body);
    const error = await failure(driverWith().reboot(serverId, { hard: false }));
    const message = (Object.values(body) as { message: string }[])[0]?.message ?? '';
    expect(error).toMatchObject({ kind, code, status, operation: 'reboot' });
    expect(error.detail).toBe(`POST /servers/${serverId}/action answered ${status} (${code}: ${message})`);
    expectClean(error, 'reboot');
  });

  it('takes a 413 overLimit carrying retryAfter as throttling', async () => {
    tokenIssued('token-a');
    nock(nova).post(`/v2.1/servers/${serverId}/action`).reply(413, { overLimit: { code: 413, message: 'This request was rate-limited.', retryAfter: '120' } });
    const error = await failure(driverWith().reboot(serverId, { hard: true }));
    expect(error).toMatchObject({ kind: 'throttled', retryAfterMs: 120_000 });
  });

  it('counts deleting a server that is already gone as done', async () => {
    tokenIssued('token-a');
    nock(nova).delete(`/v2.1/servers/${serverId}`).reply(404, { itemNotFound: { code: 404, message: 'Instance could not be found.' } });
    await driverWith().terminate(serverId);
    expect(nock.isDone()).toBe(true);
  });
});

describe('openstack driver: launch', () => {
  it('creates with Nova 2.52, base64 user data, the defib tag and action metadata, on the one network the project sees', async () => {
    namesAndNetworksKnown([
      { id: networkId, name: 'private', 'router:external': false },
      { id: 'ext', name: 'public', 'router:external': true },
    ]);
    lookupFinds([]);
    nock(nova)
      .post('/v2.1/servers', {
        server: {
          name: 'db-1',
          imageRef: imageId,
          flavorRef: '2',
          networks: [{ uuid: networkId }],
          metadata: { 'defib-action': 'action-1', 'defib-managed': 'true' },
          tags: ['defib'],
          user_data: Buffer.from('hello').toString('base64'),
        },
      })
      .matchHeader('openstack-api-version', 'compute 2.52')
      .matchHeader('x-openstack-nova-api-version', '2.52')
      .reply(202, { server: { id: serverId, links: [] } });
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(200, { server: server({ status: 'BUILD', 'OS-EXT-STS:task_state': 'scheduling' }) });
    const instance = await driverWith().launch(launchRequest);
    expect(instance).toMatchObject({ id: serverId, state: 'pending', cloudStatus: 'BUILD/scheduling', actionId: 'action-1' });
    expect(nock.isDone()).toBe(true);
  });

  it('refuses to guess among several networks, naming them and saying where to choose', async () => {
    namesAndNetworksKnown([
      { id: networkId, name: 'private' },
      { id: 'c0ffee00-0000-4000-8000-000000000001', name: 'shared' },
    ]);
    const error = await failure(driverWith().launch(launchRequest));
    expect(error).toMatchObject({ kind: 'rejected', operation: 'launch' });
    expect(error.detail).toBe(
      `the project sees several networks (private (${networkId}), shared (c0ffee00-0000-4000-8000-000000000001)): set network on the cloud registration or on the assembly to say which one new VMs join`,
    );
  });

  it("resolves the registration's network by name, and uses auto without Neutron in the catalogue", async () => {
    tokenIssued('token-a');
    namesKnown();
    nock(neutron).get('/v2.0/networks').query({ name: 'private' }).reply(200, { networks: [{ id: networkId, name: 'private' }] });
    lookupFinds([]);
    nock(nova)
      .post('/v2.1/servers', (body: { server: { networks: unknown } }) => JSON.stringify(body.server.networks) === JSON.stringify([{ uuid: networkId }]))
      .reply(202, { server: { id: serverId } });
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(200, { server: server() });
    await driverWith({ network: 'private' }).launch(launchRequest);

    tokenIssued('token-b', { services: ['compute', 'image'] });
    namesKnown();
    lookupFinds([]);
    nock(nova)
      .post('/v2.1/servers', (body: { server: { networks: unknown } }) => body.server.networks === 'auto')
      .reply(202, { server: { id: serverId } });
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(200, { server: server() });
    await driverWith().launch(launchRequest);
    expect(nock.isDone()).toBe(true);
  });

  it('returns the server a create answered with a 500 had made, without creating a second', async () => {
    readyToCreate();
    nock(nova).post('/v2.1/servers').once().reply(500, { computeFault: { code: 500, message: 'Unexpected API Error.' } });
    lookupFinds([server({ status: 'BUILD' })]);
    const instance = await driverWith().launch(launchRequest);
    expect(instance).toMatchObject({ id: serverId, actionId: 'action-1' });
    expect(nock.isDone()).toBe(true);
  });

  it('looks again before creating again after a reset connection, and creates when nothing was made', async () => {
    readyToCreate();
    nock(nova).post('/v2.1/servers').replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    lookupFinds([server({ metadata: { 'defib-action': 'another-action' } })]);
    nock(nova).post('/v2.1/servers').reply(202, { server: { id: serverId } });
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(200, { server: server({ status: 'BUILD' }) });
    expect((await driverWith().launch(launchRequest)).id).toBe(serverId);
    expect(nock.isDone()).toBe(true);
  });

  it('keeps looking while a create of unknown outcome settles, and returns the server that shows up late', async () => {
    const clock = new ManualClock(Date.UTC(2025, 0, 1));
    readyToCreate();
    nock(nova).post('/v2.1/servers').replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    lookupFinds([]);
    lookupFinds([server({ status: 'BUILD' })]);
    const launching = driverWith({ clock, settleMs: 30_000 }).launch(launchRequest);
    await vi.waitFor(() => expect(clock.pendingCount).toBe(1));
    clock.advance(5_000);
    expect((await launching).id).toBe(serverId);
    expect(nock.isDone()).toBe(true);
  });

  it('looks a kept image id up again when Nova says the image is gone', async () => {
    const driver = driverWith();
    tokenIssued('token-a');
    namesKnown();
    nock(neutron).get('/v2.0/networks').times(2).reply(200, { networks: [] });
    lookupFinds([]);
    nock(nova).post('/v2.1/servers').reply(202, { server: { id: serverId } });
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(200, { server: server() });
    await driver.launch(launchRequest);

    const replacement = 'c0ffee00-0000-4000-8000-0000000000aa';
    lookupFinds([]);
    nock(nova).post('/v2.1/servers').reply(400, { badRequest: { code: 400, message: `Image ${imageId} could not be found.` } });
    nock(glance).get('/v2/images').query({ name: 'fedora-40' }).reply(200, { images: [{ id: replacement, name: 'fedora-40', status: 'active' }] });
    nock(nova).get('/v2.1/flavors').query(true).reply(200, { flavors: [{ id: '2', name: 'm1.small' }] });
    lookupFinds([]);
    nock(nova)
      .post('/v2.1/servers', (body: { server: { imageRef: string } }) => body.server.imageRef === replacement)
      .reply(202, { server: { id: serverId } });
    nock(nova).get(`/v2.1/servers/${serverId}`).reply(200, { server: server() });
    await driver.launch({ ...launchRequest, actionId: 'action-2' });
    expect(nock.isDone()).toBe(true);
  });
});

describe('openstack driver: list', () => {
  it('follows the next links page by page, asking its own endpoint with the marker', async () => {
    tokenIssued('token-a');
    const ids = ['a', 'b', 'c'].map((letter) => `${letter.repeat(8)}-0000-4000-8000-000000000000`);
    nock(nova)
      .get('/v2.1/servers/detail')
      .query({ tags: 'defib', limit: '2' })
      .reply(200, { servers: [server({ id: ids[0] }), server({ id: ids[1] })], servers_links: [{ rel: 'next', href: `http://internal.example:8774/v2.1/servers/detail?limit=2&tags=defib&marker=${ids[1]}` }] });
    nock(nova)
      .get('/v2.1/servers/detail')
      .query({ tags: 'defib', limit: '2', marker: ids[1] })
      .reply(200, { servers: [server({ id: ids[2] })] });
    expect((await driverWith({ pageSize: 2 }).list()).map((instance) => instance.id)).toEqual(ids);
  });

  it('shows the changes since a time, deleted servers (which lost their tags) as terminated', async () => {
    tokenIssued('token-a');
    nock(nova)
      .get('/v2.1/servers/detail')
      .query({ 'changes-since': '2025-01-01T00:00:00.000Z', limit: '1000' })
      .reply(200, {
        servers: [
          server(),
          server({ id: 'deleted-1', status: 'DELETED', metadata: {}, tags: [] }),
          server({ id: 'not-ours', metadata: {}, tags: [] }),
        ],
      });
    const listed = await driverWith().list({ changesSince: '2025-01-01T00:00:00.000Z' });
    expect(listed.map((instance) => [instance.id, instance.state])).toEqual([
      [serverId, 'running'],
      ['deleted-1', 'terminated'],
    ]);
  });
});
