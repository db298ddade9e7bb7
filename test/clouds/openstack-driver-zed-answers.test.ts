/**
 * The OpenStack driver reads what a real OpenStack answers. A small server plays back the answers
 * captured from OpenStack Zed (`simulator/test/fidelity/zed/`, made by
 * `scripts/openstack-zed/capture.ts`): Keystone's token and catalogue, Nova's servers in BUILD,
 * ACTIVE and SHUTOFF, its lists with deleted servers, its error documents, Glance's images and
 * Neutron's networks, byte for byte as Zed sent them. The driver must make of them what it makes
 * of the simulator's; `scripts/openstack-zed/check-driver.ts` runs the same driver against a live
 * Zed.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudLimiter, createCloudCaller, createOpenstackDriver, type CloudDriver } from '@defib/clouds';
import { cloudFailure as failure } from '@defib/clouds/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

interface Recorded {
  request: { method: string; path: string };
  response: { status: number; headers: Record<string, string>; body: unknown };
}

const fixtureDir = fileURLToPath(new URL('../../simulator/test/fidelity/zed/', import.meta.url));
const recorded = (name: string): Recorded => JSON.parse(readFileSync(join(fixtureDir, `${name}.json`), 'utf8')) as Recorded;

/** Zed's own endpoints in its catalogue and links, each served here under a path of its own. */
const zedEndpoints: Record<string, string> = {
  'http://127.0.0.1:5000': '/identity',
  'http://127.0.0.1:8774': '/compute',
  'http://127.0.0.1:9292': '/image',
  'http://127.0.0.1:9696': '/network',
  'http://127.0.0.1:8778': '/placement',
};

/** The server id a recorded Nova answer is about. */
const serverIdOf = (name: string): string => (recorded(name).response.body as { server: { id: string } }).server.id;

describe('OpenStack driver: the answers of a real OpenStack Zed', () => {
  let server: Server;
  let base: string;
  /** What the next request to `METHOD /path` (query ignored) is answered with: a fixture name. */
  let answers: Map<string, string>;
  let asked: string[];

  const answerWith = (route: string, fixture: string) => answers.set(route, fixture);
  /** The recorded answer, with Zed's endpoints moved here and the token valid for another hour. */
  const replay = (name: string): { status: number; headers: Record<string, string>; body: string } => {
    const { status, headers, body } = recorded(name).response;
    let text = JSON.stringify(body);
    for (const [zed, path] of Object.entries(zedEndpoints)) text = text.replaceAll(zed, `${base}${path}`);
    text = text.replace(/"expires_at":"[^"]+"/, `"expires_at":"${new Date(Date.now() + 3_600_000).toISOString()}"`);
    return { status, headers: { ...headers, 'x-subject-token': 'replayed-token' }, body: text };
  };

  const driver = (password = 'secret'): CloudDriver => {
    const limits = { requestsPerSecond: 1_000, concurrency: 10 };
    return createOpenstackDriver({
      cloud: 'zed',
      registration: { provider: 'openstack', authUrl: `${base}/identity/v3`, region: 'RegionOne', interface: 'public', credentials: { username: 'admin', password, project: 'admin', domain: 'Default' }, limits },
      caller: createCloudCaller({ cloud: 'zed', limiter: new CloudLimiter(limits), policy: { maxAttempts: 1 } }),
    });
  };

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const route = `${request.method ?? 'GET'} ${new URL(request.url ?? '/', base).pathname}`;
        asked.push(route);
        let fixture = answers.get(route);
        if (route === 'POST /identity/v3/auth/tokens') fixture = Buffer.concat(chunks).toString('utf8').includes('"password":"secret"') ? '03-identity-token' : '06-identity-token-bad-password';
        if (fixture === undefined) {
          response.writeHead(599).end(`no recorded answer for ${route}`);
          return;
        }
        const { status, headers, body } = replay(fixture);
        response.writeHead(status, headers).end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    base = `http://127.0.0.1:${address.port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  beforeEach(() => {
    answers = new Map();
    asked = [];
  });

  it('shows a server Zed is still building as pending, with no addresses yet', async () => {
    const id = serverIdOf('35-server-show-build');
    answerWith(`GET /compute/v2.1/servers/${id}`, '35-server-show-build');
    const instance = await driver().describe(id);
    expect(instance).toMatchObject({ id, name: 'fid-7b6beb-a', state: 'pending', addresses: [] });
    expect(instance.cloudStatus).toMatch(/^BUILD/);
  });

  it('shows an ACTIVE server as running, with its fixed address on its network, its zone and host', async () => {
    const id = serverIdOf('44-server-show-active-2.1');
    answerWith(`GET /compute/v2.1/servers/${id}`, '44-server-show-active-2.1');
    const instance = await driver().describe(id);
    expect(instance).toMatchObject({ id, state: 'running', cloudStatus: 'ACTIVE', zone: 'nova' });
    expect(instance.addresses).toEqual([{ address: expect.stringMatching(/^10\.20\.0\.\d+$/) as string, type: 'fixed', network: 'private', version: 4 }]);
    expect(instance.hostId).toMatch(/^[0-9a-f]{20,}$/);
  });

  it('reads the action id back from the metadata of a server Defib created', async () => {
    const id = serverIdOf('45-server-show-active-latest');
    answerWith(`GET /compute/v2.1/servers/${id}`, '45-server-show-active-latest');
    const instance = await driver().describe(id);
    expect(instance).toMatchObject({ state: 'running', actionId: 'launch' });
    expect(instance.metadata).toEqual({ 'defib-action': 'launch', 'defib-assembly': 'db' });
  });

  it('shows a stopped server as stopped', async () => {
    const id = serverIdOf('57-server-show-shutoff');
    answerWith(`GET /compute/v2.1/servers/${id}`, '57-server-show-shutoff');
    expect(await driver().describe(id)).toMatchObject({ state: 'stopped', cloudStatus: 'SHUTOFF' });
  });

  it('sees a deleted server in a list of changes as terminated', async () => {
    answerWith('GET /compute/v2.1/servers/detail', '82-servers-changes-since');
    const listed = await driver().list({ changesSince: new Date(Date.now() - 600_000).toISOString() });
    const states = listed.map((instance) => instance.state);
    expect(states).toContain('terminated');
    expect(listed.find((instance) => instance.state === 'terminated')?.cloudStatus).toMatch(/^DELETED/);
  });

  it('says a server Zed no longer knows is not found, in Nova’s words', async () => {
    answerWith('GET /compute/v2.1/servers/00000000-0000-4000-8000-000000000000', '80-server-show-missing');
    const error = await failure(driver().describe('00000000-0000-4000-8000-000000000000'));
    expect(error).toMatchObject({ kind: 'not-found', status: 404, code: 'itemNotFound' });
    expect(error.message).toContain('could not be found');
  });

  it('says starting a running server conflicts with its state', async () => {
    const id = serverIdOf('44-server-show-active-2.1');
    answerWith(`POST /compute/v2.1/servers/${id}/action`, '53-server-start-active');
    const error = await failure(driver().start(id));
    expect(error).toMatchObject({ kind: 'conflict', status: 409, code: 'conflictingRequest' });
    expect(error.message).toMatch(/Cannot 'start' instance .* while it is in vm_state active/);
  });

  it('says the credentials were refused, without repeating them', async () => {
    const error = await failure(driver('not-the-password-99').checkAccess());
    expect(error).toMatchObject({ kind: 'auth', status: 401 });
    expect(error.message).not.toContain('not-the-password-99');
  });

  it('lists what the cloud offers from Glance, Nova and Neutron', async () => {
    answerWith('GET /image/v2/images', '22-glance-images');
    answerWith('GET /compute/v2.1/flavors', '14-flavors-list');
    answerWith('GET /network/v2.0/networks', '25-neutron-networks');
    const offerings = await driver().offerings();
    expect(offerings).toEqual({ images: ['cirros'], flavors: expect.arrayContaining(['m1.tiny', 'm1.small']) as string[], networks: ['private'] });
    expect(asked).toContain('POST /identity/v3/auth/tokens');
  });
});
