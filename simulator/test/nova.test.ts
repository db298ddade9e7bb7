import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminToken, startSimulator, testTimings } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';

type Json = Record<string, unknown>;
interface Reply {
  status: number;
  headers: Headers;
  body: Json;
}
interface ServerDocument extends Json {
  id: string;
  status: string;
  addresses: Record<string, { addr: string; version: number; 'OS-EXT-IPS:type': string }[]>;
}

let sim: RunningSimulator;
let token: string;
let imageId: string;

beforeEach(async () => {
  sim = await startSimulator({ clouds: [{ name: 'sim-openstack', provider: 'openstack', timings: testTimings, rateLimit: { perSecond: 1000, burst: 1000 } }] });
  token = await adminToken(sim.url);
  imageId = sim.simulator.clouds.get('sim-openstack')?.images[0]?.id ?? '';
});
afterEach(() => sim.stop());

async function nova(method: string, path: string, options: { body?: unknown; version?: string; token?: string | null; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...options.headers };
  if (options.token !== null) headers['X-Auth-Token'] = options.token ?? token;
  if (options.version !== undefined) headers['OpenStack-API-Version'] = `compute ${options.version}`;
  const response = await fetch(`${sim.url}/compute${path}`, { method, headers, ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? {} : (JSON.parse(text) as Json) };
}

async function createServer(extra: Json = {}, version = '2.60'): Promise<string> {
  const reply = await nova('POST', '/v2.1/servers', { version, body: { server: { name: 'web-1', imageRef: imageId, flavorRef: '2', networks: 'auto', ...extra } } });
  expect(reply.status).toBe(202);
  return (reply.body.server as { id: string }).id;
}

async function show(id: string, version = '2.60'): Promise<ServerDocument> {
  const reply = await nova('GET', `/v2.1/servers/${id}`, { version });
  expect(reply.status).toBe(200);
  return reply.body.server as ServerDocument;
}

async function activeServer(extra: Json = {}): Promise<string> {
  const id = await createServer(extra);
  sim.clock.advance(testTimings.build);
  expect((await show(id)).status).toBe('ACTIVE');
  return id;
}

const action = (id: string, body: unknown, version?: string): Promise<Reply> => nova('POST', `/v2.1/servers/${id}/action`, { body, ...(version === undefined ? {} : { version }) });

describe('nova version documents', () => {
  it('lists v2.1 at /compute/ with min_version 2.1 and Zed\'s maximum microversion beside v2.0, without a token', async () => {
    const reply = await nova('GET', '/', { token: null });
    expect(reply.status).toBe(200);
    expect(reply.body.versions).toEqual([
      expect.objectContaining({ id: 'v2.0', status: 'SUPPORTED', version: '', min_version: '' }),
      expect.objectContaining({ id: 'v2.1', status: 'CURRENT', min_version: '2.1', version: '2.93', links: [{ rel: 'self', href: `${sim.url}/compute/v2.1/` }] }),
    ]);
  });

  it('describes v2.1 at /compute/v2.1', async () => {
    const reply = await nova('GET', '/v2.1', { token: null });
    expect(reply.body.version).toMatchObject({ id: 'v2.1', min_version: '2.1', version: '2.93' });
  });
});

describe('nova microversions', () => {
  it('answers at 2.1 when none is requested and echoes the negotiated version in both headers', async () => {
    const plain = await nova('GET', '/v2.1/servers');
    expect(plain.headers.get('OpenStack-API-Version')).toBe('compute 2.1');
    expect(plain.headers.get('X-OpenStack-Nova-API-Version')).toBe('2.1');
    const legacy = await nova('GET', '/v2.1/servers', { headers: { 'X-OpenStack-Nova-API-Version': '2.53' } });
    expect(legacy.headers.get('OpenStack-API-Version')).toBe('compute 2.53');
    const latest = await nova('GET', '/v2.1/servers', { version: 'latest' });
    expect(latest.headers.get('X-OpenStack-Nova-API-Version')).toBe('2.93');
    expect(latest.headers.get('Vary')).toContain('OpenStack-API-Version');
  });

  it('refuses versions outside the supported range with 406 and malformed ones with 400', async () => {
    const tooNew = await nova('GET', '/v2.1/servers', { version: '2.200' });
    expect(tooNew.status).toBe(406);
    expect(tooNew.body).toEqual({ computeFault: { code: 406, message: 'Version 2.200 is not supported by the API. Minimum is 2.1 and maximum is 2.93.' } });
    expect(tooNew.headers.get('OpenStack-API-Version')).toBe('compute 2.200');
    expect((await nova('GET', '/v2.1/servers', { version: '3.0' })).status).toBe(406);
    const malformed = await nova('GET', '/v2.1/servers', { version: 'two' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.badRequest).toBeDefined();
  });

  it('shows tags from 2.26 and embeds the flavor from 2.47', async () => {
    const id = await createServer({ tags: ['db'] });
    expect((await show(id, '2.25')).tags).toBeUndefined();
    expect((await show(id, '2.26')).tags).toEqual(['db']);
    expect((await show(id, '2.46')).flavor).toMatchObject({ id: '2' });
    expect((await show(id, '2.47')).flavor).toMatchObject({ original_name: 'm1.small', vcpus: 1, ram: 2048, disk: 20 });
  });

  it('refuses tags on create before 2.52 and requires networks from 2.37', async () => {
    const early = await nova('POST', '/v2.1/servers', { version: '2.51', body: { server: { name: 'x', imageRef: imageId, flavorRef: '1', networks: 'auto', tags: ['a'] } } });
    expect(early.status).toBe(400);
    expect((early.body.badRequest as { message: string }).message).toContain("'tags' was unexpected");
    const noNetworks = await nova('POST', '/v2.1/servers', { version: '2.37', body: { server: { name: 'x', imageRef: imageId, flavorRef: '1' } } });
    expect(noNetworks.status).toBe(400);
    expect((await nova('POST', '/v2.1/servers', { version: '2.36', body: { server: { name: 'x', imageRef: imageId, flavorRef: '1' } } })).status).toBe(202);
  });
});

describe('nova authentication', () => {
  it('refuses requests without a valid X-Auth-Token with 401', async () => {
    for (const value of [null, 'not-a-token']) {
      const reply = await nova('GET', '/v2.1/servers', { token: value });
      expect(reply.status).toBe(401);
      expect(reply.body).toMatchObject({ error: { code: 401 } });
    }
  });
});

describe('nova servers', () => {
  it('creates a server with 202, a Location, an adminPass and BUILD status, then makes it ACTIVE', async () => {
    const userData = Buffer.from('#cloud-config\n').toString('base64');
    const reply = await nova('POST', '/v2.1/servers', {
      version: '2.60',
      body: { server: { name: 'db-1', imageRef: imageId, flavorRef: '2', networks: 'auto', user_data: userData, metadata: { assembly: 'db' }, availability_zone: 'nova' } },
    });
    expect(reply.status).toBe(202);
    const server = reply.body.server as { id: string; adminPass: string; links: { href: string }[] };
    expect(server.adminPass).toMatch(/\S{8,}/);
    expect(reply.headers.get('Location')).toBe(`${sim.url}/compute/v2.1/servers/${server.id}`);
    // Nova schedules first: no host and no port yet (the first tenth of the build), then spawns.
    const scheduling = await show(server.id);
    expect(scheduling).toMatchObject({ status: 'BUILD', 'OS-EXT-STS:vm_state': 'building', 'OS-EXT-STS:task_state': 'scheduling', 'OS-EXT-SRV-ATTR:host': null, addresses: {}, metadata: { assembly: 'db' } });
    expect(scheduling).not.toHaveProperty('security_groups');
    sim.clock.advance(testTimings.build / 10);
    const building = await show(server.id);
    expect(building).toMatchObject({ status: 'BUILD', 'OS-EXT-STS:vm_state': 'building', 'OS-EXT-STS:task_state': 'spawning', 'OS-EXT-STS:power_state': 0, 'OS-EXT-AZ:availability_zone': 'nova' });
    expect(building.addresses.private).toHaveLength(1);
    expect(building['OS-EXT-SRV-ATTR:user_data']).toBe(userData);
    sim.clock.advance(testTimings.build - testTimings.build / 10);
    const active = await show(server.id);
    expect(active).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:vm_state': 'active', 'OS-EXT-STS:task_state': null, 'OS-EXT-STS:power_state': 1, 'OS-EXT-AZ:availability_zone': 'nova' });
    expect(active['OS-SRV-USG:launched_at']).toBe('2025-01-01T00:00:10.000000');
  });

  it('renders the full server document', async () => {
    const id = await activeServer();
    const server = await show(id);
    for (const key of ['id', 'name', 'status', 'tenant_id', 'user_id', 'hostId', 'image', 'flavor', 'created', 'updated', 'addresses', 'accessIPv4', 'accessIPv6', 'links', 'OS-EXT-AZ:availability_zone', 'OS-EXT-SRV-ATTR:host', 'security_groups', 'key_name']) {
      expect(server).toHaveProperty([key]);
    }
    expect(server.hostId).toMatch(/^[0-9a-f]{56}$/);
    expect(server.created).toBe('2025-01-01T00:00:00Z');
    expect(server.addresses.private).toEqual([expect.objectContaining({ version: 4, 'OS-EXT-IPS:type': 'fixed', addr: expect.stringMatching(/^10\.0\./) as unknown })]);
    expect(server.links).toEqual([
      { rel: 'self', href: `${sim.url}/compute/v2.1/servers/${id}` },
      { rel: 'bookmark', href: `${sim.url}/compute/servers/${id}` },
    ]);
  });

  it('shows floating addresses beside fixed ones on the same network', async () => {
    const id = await activeServer();
    const cloud = sim.simulator.clouds.get('sim-openstack');
    const floating = cloud?.allocateFloating();
    cloud?.associateFloating(floating?.id ?? '', id);
    const types = (await show(id)).addresses.private?.map((address) => address['OS-EXT-IPS:type']);
    expect(types).toEqual(['fixed', 'floating']);
  });

  it('lists newest first, with links only, and details on /servers/detail', async () => {
    const first = await createServer({ name: 'a' });
    const second = await createServer({ name: 'b' });
    const list = await nova('GET', '/v2.1/servers');
    expect((list.body.servers as Json[]).map((server) => server.id)).toEqual([second, first]);
    expect(Object.keys((list.body.servers as Json[])[0] ?? {}).sort()).toEqual(['id', 'links', 'name']);
    const detail = await nova('GET', '/v2.1/servers/detail');
    expect((detail.body.servers as Json[])[0]).toHaveProperty('status', 'BUILD');
  });

  it('filters by name (a regular expression) and status', async () => {
    await activeServer({ name: 'db-1' });
    const stopped = await activeServer({ name: 'web-1' });
    await action(stopped, { 'os-stop': null });
    sim.clock.advance(testTimings.stop);
    const byName = await nova('GET', '/v2.1/servers/detail?name=^db');
    expect((byName.body.servers as Json[]).map((server) => server.name)).toEqual(['db-1']);
    const byStatus = await nova('GET', '/v2.1/servers/detail?status=SHUTOFF');
    expect((byStatus.body.servers as Json[]).map((server) => server.name)).toEqual(['web-1']);
    expect(((await nova('GET', '/v2.1/servers?status=NOSUCH')).body.servers as Json[]).length).toBe(0);
  });

  it('pages with limit and marker and links to the next page', async () => {
    const ids = [await createServer(), await createServer(), await createServer()].reverse();
    const page = await nova('GET', '/v2.1/servers?limit=2');
    expect((page.body.servers as Json[]).map((server) => server.id)).toEqual(ids.slice(0, 2));
    const next = (page.body.servers_links as { rel: string; href: string }[])[0];
    expect(next?.rel).toBe('next');
    const nextPage = await fetch(next?.href ?? '', { headers: { 'X-Auth-Token': token } });
    const rest = (await nextPage.json()) as { servers: Json[]; servers_links?: unknown };
    expect(rest.servers.map((server) => server.id)).toEqual(ids.slice(2));
    expect(rest.servers_links).toBeUndefined();
    expect((await nova('GET', '/v2.1/servers?marker=nope')).status).toBe(400);
    expect((await nova('GET', '/v2.1/servers?limit=-1')).status).toBe(400);
  });

  it('deletes with 204, then the server is gone with 404 itemNotFound', async () => {
    const id = await activeServer();
    expect((await nova('DELETE', `/v2.1/servers/${id}`)).status).toBe(204);
    expect((await show(id)).status).toBe('ACTIVE');
    sim.clock.advance(testTimings.delete);
    const gone = await nova('GET', `/v2.1/servers/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({ itemNotFound: { code: 404, message: `Instance ${id} could not be found.` } });
    expect((await nova('DELETE', `/v2.1/servers/${id}`)).status).toBe(404);
  });

  it('refuses unknown flavors and images, bad user data and bad bodies with 400 badRequest', async () => {
    const base = { name: 'x', imageRef: imageId, flavorRef: '1', networks: 'auto' };
    const cases: [unknown, string][] = [
      [{ server: { ...base, flavorRef: '99' } }, 'Flavor 99 could not be found.'],
      [{ server: { ...base, imageRef: 'no-such-image' } }, 'Can not find requested image'],
      [{ server: { ...base, user_data: 'not base64!' } }, "is not a 'base64'"],
      [{ server: { ...base, availability_zone: 'mars' } }, 'The requested availability zone is not available'],
      [{ server: { ...base, name: undefined } }, "'name' is a required property"],
      [{ server: { ...base, colour: 'red' } }, "'colour' was unexpected"],
      [{ nothing: true }, "'server' is a required property"],
      ['{"server": ', 'Malformed request body'],
    ];
    for (const [body, message] of cases) {
      const reply = await nova('POST', '/v2.1/servers', { version: '2.60', body });
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect((reply.body.badRequest as { message: string }).message).toContain(message);
    }
  });

  it('answers unknown paths under the API with itemNotFound JSON', async () => {
    const reply = await nova('GET', '/v2.1/os-nothing');
    expect(reply.status).toBe(404);
    expect(reply.body.itemNotFound).toBeDefined();
  });
});

describe('nova as Zed answers it (see fidelity.test.ts)', () => {
  const names = (reply: Reply): unknown[] => (reply.body.servers as Json[]).map((server) => server.name);

  it('links to a next page from a full page even when nothing follows it', async () => {
    await createServer({ name: 'a' });
    await createServer({ name: 'b' });
    const full = await nova('GET', '/v2.1/servers/detail?limit=2');
    expect(full.body.servers_links).toEqual([expect.objectContaining({ rel: 'next' })]);
    const short = await nova('GET', '/v2.1/servers/detail?limit=3');
    expect(short.body.servers_links).toBeUndefined();
  });

  it('lists servers deleted within a changes-since window as DELETED, and honours changes-before from 2.66 on', async () => {
    const since = new Date(sim.clock.now()).toISOString();
    await activeServer({ name: 'kept' });
    const gone = await activeServer({ name: 'gone' });
    await nova('DELETE', `/v2.1/servers/${gone}`);
    sim.clock.advance(testTimings.delete);
    expect(names(await nova('GET', '/v2.1/servers/detail'))).toEqual(['kept']);
    const changes = await nova('GET', `/v2.1/servers/detail?changes-since=${since}`);
    expect((changes.body.servers as Json[]).map((server) => [server.name, server.status])).toEqual([['gone', 'DELETED'], ['kept', 'ACTIVE']]);
    expect((changes.body.servers as Json[])[0]).toMatchObject({ addresses: {}, 'OS-EXT-STS:vm_state': 'deleted' });
    const before = new Date(Date.UTC(2025, 0, 1, 0, 0, 5)).toISOString();
    expect(names(await nova('GET', `/v2.1/servers/detail?changes-since=${since}&changes-before=${before}`, { version: '2.66' }))).toEqual([]);
    // Before 2.66 changes-before is no filter of Nova's: ignored, as Zed ignores it.
    expect(names(await nova('GET', `/v2.1/servers/detail?changes-before=${before}`, { version: '2.65' }))).toEqual(['kept']);
  });

  it('lists only deleted servers with deleted=true', async () => {
    await activeServer({ name: 'kept' });
    const gone = await activeServer({ name: 'gone' });
    await nova('DELETE', `/v2.1/servers/${gone}`);
    sim.clock.advance(testTimings.delete);
    expect(names(await nova('GET', '/v2.1/servers/detail?deleted=true'))).toEqual(['gone']);
  });

  it('creates a server without a port for networks "none": no addresses and no security groups', async () => {
    const id = await activeServer({ networks: 'none' });
    const server = await show(id);
    expect(server.addresses).toEqual({});
    expect(server).not.toHaveProperty('security_groups');
  });

  it('reads a server\'s metadata and one item of it, and 404s a key it lacks', async () => {
    const id = await createServer({ metadata: { 'defib-action': 'launch' } });
    expect((await nova('GET', `/v2.1/servers/${id}/metadata`)).body).toEqual({ metadata: { 'defib-action': 'launch' } });
    expect((await nova('GET', `/v2.1/servers/${id}/metadata/defib-action`)).body).toEqual({ meta: { 'defib-action': 'launch' } });
    expect((await nova('GET', `/v2.1/servers/${id}/metadata/nothing`)).body).toEqual({ itemNotFound: { code: 404, message: 'Metadata item was not found' } });
  });

  it('serves the image and os-networks proxies at 2.1 and answers 404 from 2.36 on', async () => {
    const images = await nova('GET', '/v2.1/images');
    expect((images.body.images as Json[])[0]).toMatchObject({ id: imageId, links: expect.arrayContaining([{ rel: 'alternate', type: 'application/vnd.openstack.image', href: `${sim.url}/image/images/${imageId}` }]) as unknown });
    const networks = await nova('GET', '/v2.1/os-networks');
    expect((networks.body.networks as Json[])[0]).toMatchObject({ label: 'private', cidr: null });
    expect((await nova('GET', '/v2.1/images', { version: '2.36' })).status).toBe(404);
    expect((await nova('GET', '/v2.1/os-networks', { version: '2.36' })).status).toBe(404);
  });

  it('gives a server created before 2.19 its name as description', async () => {
    const old = await nova('POST', '/v2.1/servers', { body: { server: { name: 'legacy', imageRef: imageId, flavorRef: '1' } } });
    const id = (old.body.server as { id: string }).id;
    expect((await show(id, '2.19')).description).toBe('legacy');
    expect((await show(await createServer({ name: 'modern' }), '2.19')).description).toBeNull();
  });

  it('ignores a filter it does not know until 2.75 and refuses it from 2.75 on; refuses joined-table filters always', async () => {
    await createServer({ name: 'a' });
    expect(names(await nova('GET', '/v2.1/servers/detail?colour=red', { version: '2.74' }))).toEqual(['a']);
    expect((await nova('GET', '/v2.1/servers/detail?colour=red', { version: '2.75' })).body).toEqual({ badRequest: { code: 400, message: "'colour' does not match any of the regexes: '^_'" } });
    expect((await nova('GET', '/v2.1/servers/detail?metadata=x')).body).toEqual({ badRequest: { code: 400, message: 'Invalid filter field: metadata.' } });
    expect((await nova('GET', '/v2.1/servers/detail?changes-since=yesterday')).body).toEqual({ badRequest: { code: 400, message: "Invalid input for query parameters changes-since. Value: yesterday. 'yesterday' is not a 'date-time'" } });
  });

  it('lists a server\'s tags from 2.26 on', async () => {
    const id = await createServer({ tags: ['defib'] });
    expect((await nova('GET', `/v2.1/servers/${id}/tags`, { version: '2.26' })).body).toEqual({ tags: ['defib'] });
    expect((await nova('GET', `/v2.1/servers/${id}/tags`, { version: '2.25' })).status).toBe(404);
  });

  it('quotes refused values as Python prints them', async () => {
    const id = await createServer();
    const reply = await action(id, { reboot: { type: 'GENTLE' } });
    expect(reply.body).toEqual({ badRequest: { code: 400, message: "Invalid input for field/attribute type. Value: GENTLE. 'GENTLE' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']" } });
    const create = await nova('POST', '/v2.1/servers', { version: '2.37', body: { server: { name: 'x', flavorRef: '1', imageRef: imageId, networks: 'none', colour: true } } });
    expect((create.body.badRequest as { message: string }).message).toBe(`Invalid input for field/attribute server. Value: {'name': 'x', 'flavorRef': '1', 'imageRef': '${imageId}', 'networks': 'none', 'colour': True}. Additional properties are not allowed ('colour' was unexpected)`);
  });

  it('answers a request without a token before reading its microversion: 401, no version headers', async () => {
    const reply = await nova('GET', '/v2.1/servers', { token: null, version: '2.999' });
    expect(reply.status).toBe(401);
    expect(reply.headers.get('OpenStack-API-Version')).toBeNull();
  });
});

describe('nova server actions', () => {
  it('soft-reboots an ACTIVE server through REBOOT back to ACTIVE', async () => {
    const id = await activeServer();
    expect((await action(id, { reboot: { type: 'SOFT' } })).status).toBe(202);
    expect(await show(id)).toMatchObject({ status: 'REBOOT', 'OS-EXT-STS:task_state': 'reboot_started' });
    sim.clock.advance(testTimings.reboot);
    expect((await show(id)).status).toBe('ACTIVE');
  });

  it('hard-reboots through HARD_REBOOT, even during a soft reboot', async () => {
    const id = await activeServer();
    await action(id, { reboot: { type: 'SOFT' } });
    expect((await action(id, { reboot: { type: 'HARD' } })).status).toBe(202);
    expect((await show(id)).status).toBe('HARD_REBOOT');
    sim.clock.advance(testTimings.hardReboot);
    expect((await show(id)).status).toBe('ACTIVE');
  });

  it('stops with os-stop to SHUTOFF and starts with os-start to ACTIVE', async () => {
    const id = await activeServer();
    expect((await action(id, { 'os-stop': null })).status).toBe(202);
    expect(await show(id)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': 'powering-off' });
    sim.clock.advance(testTimings.stop);
    expect(await show(id)).toMatchObject({ status: 'SHUTOFF', 'OS-EXT-STS:vm_state': 'stopped', 'OS-EXT-STS:power_state': 4 });
    expect((await action(id, { 'os-start': null })).status).toBe(202);
    sim.clock.advance(testTimings.start);
    expect((await show(id)).status).toBe('ACTIVE');
  });

  it('rebuilds with a new image through REBUILD and returns the server document', async () => {
    const id = await activeServer();
    const otherImage = sim.simulator.clouds.get('sim-openstack')?.images[1]?.id ?? '';
    const reply = await action(id, { rebuild: { imageRef: otherImage, name: 'rebuilt' } }, '2.60');
    expect(reply.status).toBe(202);
    expect(reply.body.server).toMatchObject({ id, status: 'REBUILD', name: 'rebuilt', image: { id: otherImage } });
    sim.clock.advance(testTimings.rebuild);
    expect((await show(id)).status).toBe('ACTIVE');
  });

  it('refuses os-start on an ACTIVE server with 409 conflictingRequest', async () => {
    const id = await activeServer();
    const reply = await action(id, { 'os-start': null });
    expect(reply.status).toBe(409);
    expect(reply.body).toEqual({ conflictingRequest: { code: 409, message: `Cannot 'start' instance ${id} while it is in vm_state active` } });
  });

  it('refuses os-stop on a SHUTOFF server and a soft reboot while building with 409', async () => {
    const id = await activeServer();
    await action(id, { 'os-stop': null });
    sim.clock.advance(testTimings.stop);
    expect((await action(id, { 'os-stop': null })).body.conflictingRequest).toMatchObject({ message: `Cannot 'stop' instance ${id} while it is in vm_state stopped` });
    const building = await createServer();
    expect((await action(building, { reboot: { type: 'SOFT' } })).status).toBe(409);
  });

  it('refuses unknown actions, bad reboot types and malformed bodies with 400, unknown servers with 404', async () => {
    const id = await activeServer();
    expect((await action(id, { explode: null })).body).toEqual({ badRequest: { code: 400, message: 'There is no such action: explode' } });
    expect((await action(id, { reboot: { type: 'GENTLE' } })).status).toBe(400);
    expect((await action(id, { reboot: {} })).status).toBe(400);
    expect((await action(id, { 'os-start': null, 'os-stop': null })).status).toBe(400);
    expect((await action(id, 'nonsense')).status).toBe(400);
    expect((await action('00000000-0000-4000-8000-000000000000', { 'os-start': null })).status).toBe(404);
  });
});

describe('nova flavors and zones', () => {
  it('lists flavors, details them and shows one', async () => {
    const list = await nova('GET', '/v2.1/flavors');
    expect((list.body.flavors as Json[]).map((flavor) => flavor.name)).toEqual(['m1.tiny', 'm1.small', 'm1.medium', 'm1.large']);
    const detail = await nova('GET', '/v2.1/flavors/detail');
    expect((detail.body.flavors as Json[])[1]).toMatchObject({ id: '2', ram: 2048, vcpus: 1, disk: 20, 'OS-FLV-EXT-DATA:ephemeral': 0, 'os-flavor-access:is_public': true });
    expect((await nova('GET', '/v2.1/flavors/3')).body.flavor).toMatchObject({ name: 'm1.medium' });
    expect((await nova('GET', '/v2.1/flavors/99')).body).toEqual({ itemNotFound: { code: 404, message: 'Flavor 99 could not be found.' } });
  });

  it('answers the extra-specs look-up clients make for every flavor', async () => {
    expect((await nova('GET', '/v2.1/flavors/2/os-extra_specs')).body).toEqual({ extra_specs: {} });
    expect((await nova('GET', '/v2.1/flavors/2/os-extra_specs/hw:cpu_policy')).status).toBe(404);
    expect((await nova('GET', '/v2.1/flavors/99/os-extra_specs')).status).toBe(404);
  });

  it('lists availability zones', async () => {
    const reply = await nova('GET', '/v2.1/os-availability-zone');
    expect(reply.body.availabilityZoneInfo).toEqual([{ zoneName: 'nova', zoneState: { available: true }, hosts: null }]);
  });
});

describe('nova rate limiting', () => {
  it('answers calls beyond the rate limit with 429 overLimit and Retry-After', async () => {
    await sim.stop();
    sim = await startSimulator({ clouds: [{ name: 'sim-openstack', provider: 'openstack', rateLimit: { perSecond: 1, burst: 2 } }] });
    token = await adminToken(sim.url);
    await nova('GET', '/v2.1/servers');
    await nova('GET', '/v2.1/servers');
    const limited = await nova('GET', '/v2.1/servers');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBe('1');
    expect(limited.body.overLimit).toMatchObject({ code: 429, retryAfter: '1' });
    sim.clock.advance(1_000);
    expect((await nova('GET', '/v2.1/servers')).status).toBe(200);
  });
});
