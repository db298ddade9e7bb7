import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminToken, passwordAuth, startSimulator } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';

interface CatalogEntry {
  type: string;
  name: string;
  endpoints: { interface: string; region: string; region_id: string; url: string }[];
}

interface TokenBody {
  token: { expires_at: string; issued_at: string; methods: string[]; user: { name: string; domain: { id: string } }; project?: { name: string; id: string }; roles?: { name: string }[]; catalog?: CatalogEntry[] };
}

let sim: RunningSimulator;
beforeEach(async () => {
  sim = await startSimulator({
    clouds: [
      { name: 'sim-openstack', provider: 'openstack' },
      { name: 'sim-openstack-2', provider: 'openstack', region: 'RegionTwo' },
    ],
  });
});
afterEach(() => sim.stop());

const authenticate = (body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${sim.url}/identity/v3/auth/tokens`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** fetch cannot override Host, so this goes through node:http. */
function postWithHost(host: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const outgoing = request(`${sim.url}/identity/v3/auth/tokens`, { method: 'POST', headers: { Host: host, 'Content-Type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(text));
    });
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify(body));
  });
}

describe('keystone version discovery', () => {
  it('lists v3 at /identity with 300 Multiple Choices', async () => {
    const response = await fetch(`${sim.url}/identity`);
    expect(response.status).toBe(300);
    const body = (await response.json()) as { versions: { values: { id: string; status: string; links: { href: string }[] }[] } };
    expect(body.versions.values[0]).toMatchObject({ id: 'v3.14', status: 'stable', links: [{ rel: 'self', href: `${sim.url}/identity/v3/` }] });
  });

  it('describes v3 at /identity/v3', async () => {
    const response = await fetch(`${sim.url}/identity/v3`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ version: { id: 'v3.14', status: 'stable', 'media-types': [{ type: 'application/vnd.openstack.identity-v3+json' }] } });
  });
});

describe('keystone password tokens', () => {
  it('issues a project-scoped token with 201, X-Subject-Token, expiry and roles', async () => {
    const response = await authenticate(passwordAuth());
    expect(response.status).toBe(201);
    expect(response.headers.get('X-Subject-Token')).toMatch(/^gAAAAA/);
    const { token } = (await response.json()) as TokenBody;
    expect(token.methods).toEqual(['password']);
    expect(token.user).toMatchObject({ name: 'admin', domain: { id: 'default' } });
    expect(token.project?.name).toBe('admin');
    expect(token.roles?.map((role) => role.name)).toContain('admin');
    expect(token.issued_at).toBe('2025-01-01T00:00:00.000000Z');
    expect(token.expires_at).toBe('2025-01-01T01:00:00.000000Z');
  });

  it('lists identity, compute, image and network endpoints for every region and interface, from the request Host', async () => {
    const { token } = JSON.parse(await postWithHost('cloud.example:7200', passwordAuth())) as TokenBody;
    const byType = new Map(token.catalog?.map((entry) => [entry.type, entry]));
    expect([...byType.keys()].sort()).toEqual(['compute', 'identity', 'image', 'network']);
    const compute = byType.get('compute')?.endpoints ?? [];
    expect(compute).toHaveLength(6);
    expect(compute.filter((endpoint) => endpoint.interface === 'public').map((endpoint) => [endpoint.region, endpoint.url])).toEqual([
      ['RegionOne', 'http://cloud.example:7200/compute/v2.1'],
      ['RegionTwo', 'http://cloud.example:7200/regions/RegionTwo/compute/v2.1'],
    ]);
    expect(byType.get('image')?.endpoints[0]?.url).toBe('http://cloud.example:7200/image');
    expect(byType.get('identity')?.endpoints[0]?.url).toBe('http://cloud.example:7200/identity');
    expect(byType.get('network')?.endpoints[0]?.url).toBe('http://cloud.example:7200/networking');
  });

  it('omits the catalog with ?nocatalog and gives unscoped tokens none', async () => {
    const noCatalog = await fetch(`${sim.url}/identity/v3/auth/tokens?nocatalog`, { method: 'POST', body: JSON.stringify(passwordAuth()) });
    expect(((await noCatalog.json()) as TokenBody).token.catalog).toBeUndefined();
    const unscoped = (await (await authenticate(passwordAuth('admin', 'secret', null))).json()) as TokenBody;
    expect(unscoped.token.project).toBeUndefined();
    expect(unscoped.token.catalog).toEqual([]);
  });

  it('re-scopes with the token method', async () => {
    const token = await adminToken(sim.url);
    const response = await authenticate({ auth: { identity: { methods: ['token'], token: { id: token } }, scope: { project: { name: 'admin', domain: { id: 'default' } } } } });
    expect(response.status).toBe(201);
  });

  it('answers bad credentials and unknown projects with 401 in Keystone format', async () => {
    for (const body of [passwordAuth('admin', 'wrong'), passwordAuth('nobody', 'secret'), passwordAuth('admin', 'secret', 'other')]) {
      const response = await authenticate(body);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    }
  });

  it('answers malformed bodies with 400, never 500', async () => {
    for (const body of ['{not json', '[]', { auth: {} }, { auth: { identity: { methods: [] } } }, { auth: { identity: { methods: ['password'], password: { user: { name: 'admin', password: 'secret' } } } } }]) {
      const response = await authenticate(body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: number } }).error.code).toBe(400);
    }
  });
});

describe('keystone token validation', () => {
  it('validates with GET and HEAD, and revokes with DELETE', async () => {
    const token = await adminToken(sim.url);
    const headers = { 'X-Auth-Token': token, 'X-Subject-Token': token };
    const shown = await fetch(`${sim.url}/identity/v3/auth/tokens`, { headers });
    expect(shown.status).toBe(200);
    expect(shown.headers.get('X-Subject-Token')).toBe(token);
    expect(((await shown.json()) as TokenBody).token.project?.name).toBe('admin');
    expect((await fetch(`${sim.url}/identity/v3/auth/tokens`, { method: 'HEAD', headers })).status).toBe(200);
    const other = await adminToken(sim.url);
    expect((await fetch(`${sim.url}/identity/v3/auth/tokens`, { method: 'DELETE', headers: { 'X-Auth-Token': other, 'X-Subject-Token': token } })).status).toBe(204);
    expect((await fetch(`${sim.url}/identity/v3/auth/tokens`, { headers: { 'X-Auth-Token': other, 'X-Subject-Token': token } })).status).toBe(404);
  });

  it('expires tokens by the clock', async () => {
    const token = await adminToken(sim.url);
    sim.clock.advance(3_600_000);
    const response = await fetch(`${sim.url}/compute/v2.1/servers`, { headers: { 'X-Auth-Token': token } });
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toBe(`Keystone uri="${sim.url}/identity"`);
  });
});
