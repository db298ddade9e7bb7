/**
 * The OpenStack driver against the simulator over real HTTP: every operation, as Defib's services
 * use them. The simulator runs on a manual clock (a VM builds when the test says ten seconds have
 * passed); the driver runs on real time with short timeouts. Its ground truth (the VMs it holds)
 * tells what the driver really did.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { CloudLimiter, createCloudCaller, createOpenstackDriver, type CloudDriver, type CloudInstance, type LaunchRequest } from '@defib/clouds';
import { openstackRegistrationSchema, type OpenstackRegistration } from '@defib/contracts';
import { ManualClock } from '@defib/platform/testing';
import { createSimulator, InMemoryAgentNetwork, type Simulator } from '@defib/simulator';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cloudFailure as failure } from '@defib/clouds/testing';

const timings = { build: 10_000, reboot: 4_000, hardReboot: 2_000, stop: 3_000, start: 5_000, rebuild: 6_000, delete: 1_000, jitter: 0, deletedRetention: 60_000, statusChecksAfter: 30_000 };

let simulator: Simulator;
let clock: ManualClock;
let url: string;
/** Every request the driver made, as `METHOD path`. */
let requests: string[];

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2025, 0, 1));
  simulator = createSimulator({ clock, seed: 'openstack-driver', clouds: [{ name: 'sim-openstack', provider: 'openstack', timings }], agents: { network: new InMemoryAgentNetwork() } });
  url = (await simulator.start(0, '127.0.0.1')).url;
  requests = [];
});
afterEach(async () => {
  await simulator.stop();
});

function registration(overrides: { password?: string; region?: string; authUrl?: string } = {}): OpenstackRegistration {
  return openstackRegistrationSchema.parse({
    provider: 'openstack',
    authUrl: overrides.authUrl ?? `${url}/identity/v3`,
    region: overrides.region ?? 'RegionOne',
    credentials: { username: 'admin', password: overrides.password ?? 'secret', project: 'admin', domain: 'Default' },
  });
}

function driverFor(options: { password?: string; region?: string; authUrl?: string; pageSize?: number; attemptTimeoutMs?: number; budgetMs?: number } = {}): CloudDriver {
  const caller = createCloudCaller({
    cloud: 'sim-openstack',
    limiter: new CloudLimiter({ requestsPerSecond: 1_000, concurrency: 10 }),
    policy: { attemptTimeoutMs: options.attemptTimeoutMs ?? 5_000, initialDelayMs: 10, maxDelayMs: 50, budgetMs: options.budgetMs ?? 10_000 },
  });
  const recordingFetch: typeof fetch = (input, init) => {
    const target = new URL(input instanceof Request ? input.url : String(input));
    requests.push(`${init?.method ?? 'GET'} ${target.pathname}`);
    return fetch(input, init);
  };
  return createOpenstackDriver({ cloud: 'sim-openstack', registration: registration(options), caller, fetch: recordingFetch, settleMs: 0, ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }) });
}

const launchRequest = (overrides: Partial<LaunchRequest> = {}): LaunchRequest => ({
  actionId: randomUUID(),
  name: 'db-1',
  image: 'fedora-40',
  flavor: 'm1.small',
  userData: '#cloud-config\nhostname: db-1\n',
  metadata: { 'defib-assembly': 'db' },
  ...overrides,
});

async function injectFault(spec: object): Promise<void> {
  const response = await fetch(`${url}/_sim/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(spec) });
  expect(response.status, await response.text()).toBe(201);
}

const groundTruth = () => simulator.clouds.get('sim-openstack')?.list() ?? [];

/** Launches and lets the simulated cloud finish building it. */
async function launchRunning(driver: CloudDriver, overrides: Partial<LaunchRequest> = {}): Promise<CloudInstance> {
  const instance = await driver.launch(launchRequest(overrides));
  clock.advance(timings.build);
  return instance;
}

describe('OpenStack driver: access', () => {
  it('proves a good registration by authenticating and asking Nova', async () => {
    await driverFor().checkAccess();
    expect(requests).toEqual(['POST /identity/v3/auth/tokens', 'GET /compute/v2.1/flavors']);
  });

  it('says the credentials were refused for a wrong password, without echoing it', async () => {
    const error = await failure(driverFor({ password: 'not-the-password' }).checkAccess());
    expect(error).toMatchObject({ kind: 'auth', cloud: 'sim-openstack', status: 401 });
    expect(error.message).toMatch(/refused the credentials/);
    expect(error.message).not.toContain('not-the-password');
  });

  it('refuses an unknown region naming the regions the catalogue has', async () => {
    const error = await failure(driverFor({ region: 'RegionTwo' }).checkAccess());
    expect(error).toMatchObject({ kind: 'rejected', operation: 'check-access' });
    expect(error.detail).toBe('region RegionTwo is not in the service catalogue; it has regions: RegionOne');
  });

  it('takes an auth URL given without its version', async () => {
    await driverFor({ authUrl: `${url}/identity` }).checkAccess();
  });
});

describe('OpenStack driver: offerings', () => {
  it('lists image, flavor and network names', async () => {
    const offerings = await driverFor().offerings();
    expect(offerings.images).toEqual(expect.arrayContaining(['fedora-40', 'ubuntu-24.04']));
    expect(offerings.flavors).toEqual(expect.arrayContaining(['m1.tiny', 'm1.small', 'm1.medium', 'm1.large']));
    expect(offerings.networks).toEqual(['private']);
    expect(requests.filter((request) => request.endsWith('/v2.0/networks'))).toHaveLength(1);
  });
});

describe('OpenStack driver: launch', () => {
  it('creates a server from image and flavor names, with its user data, metadata and the defib tag', async () => {
    const request = launchRequest();
    const instance = await driverFor().launch(request);
    expect(instance).toMatchObject({ name: 'db-1', state: 'pending', cloudStatus: expect.stringMatching(/^BUILD/) as unknown, actionId: request.actionId });
    expect(instance.metadata).toMatchObject({ 'defib-action': request.actionId, 'defib-managed': 'true', 'defib-assembly': 'db' });
    const [vm] = groundTruth();
    expect(vm?.id).toBe(instance.id);
    expect(Buffer.from(vm?.userData ?? '', 'base64').toString('utf8')).toBe(request.userData);
    expect(vm?.tags.map((tag) => tag.key)).toEqual(['defib']);
    expect(vm?.imageId).toBe(simulator.clouds.get('sim-openstack')?.findImage('fedora-40')?.id);
    expect(vm?.flavorId).toBe('2');
  });

  it('returns the server of an earlier attempt when a launch is repeated with the same action id', async () => {
    const driver = driverFor();
    const request = launchRequest();
    const first = await driver.launch(request);
    const again = await driver.launch(request);
    expect(again.id).toBe(first.id);
    expect(groundTruth()).toHaveLength(1);
  });

  it('creates exactly one server when the answer to create is lost and the launch looks before trying again', async () => {
    const proxy = await startAnswerLosingProxy(url, (method, path) => method === 'POST' && path.endsWith('/servers'));
    try {
      const driver = driverFor({ authUrl: `${proxy.url}/identity/v3`, attemptTimeoutMs: 500 });
      const request = launchRequest();
      const instance = await driver.launch(request);
      expect(proxy.lost).toBe(1);
      expect(instance.actionId).toBe(request.actionId);
      expect(groundTruth().map((vm) => vm.id)).toEqual([instance.id]);
      expect(requests.filter((line) => line === 'POST /compute/v2.1/servers')).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('looks for the server before every new create when creates fail with a 500, and gives up saying the outcome is unknown', async () => {
    await injectFault({ kind: 'api-error', target: { cloud: 'sim-openstack' }, operations: ['servers.create'], rate: 1 });
    const error = await failure(driverFor().launch(launchRequest()));
    expect(error).toMatchObject({ kind: 'unavailable', status: 500, code: 'computeFault', outcomeUnknown: true, operation: 'launch' });
    const novaCalls = requests.filter((line) => line === 'POST /compute/v2.1/servers' || line === 'GET /compute/v2.1/servers/detail');
    expect(novaCalls).toEqual(['GET /compute/v2.1/servers/detail', 'POST /compute/v2.1/servers', 'GET /compute/v2.1/servers/detail', 'POST /compute/v2.1/servers', 'GET /compute/v2.1/servers/detail', 'POST /compute/v2.1/servers']);
    expect(groundTruth()).toHaveLength(0);
  });

  it('says the cloud is unavailable during an outage, within the budget', async () => {
    await injectFault({ kind: 'api-outage', target: { cloud: 'sim-openstack' }, operations: ['servers.*'] });
    const error = await failure(driverFor({ budgetMs: 300 }).list());
    expect(error).toMatchObject({ kind: 'unavailable', status: 503, operation: 'list' });
    expect(error.message).toMatch(/^cloud sim-openstack: list failed: GET \/servers\/detail answered 503 .*gave up after \d+ attempts/);
  });

  it('refuses an image it cannot find, naming it', async () => {
    const error = await failure(driverFor().launch(launchRequest({ image: 'windows-95' })));
    expect(error).toMatchObject({ kind: 'not-found', detail: 'no image named windows-95' });
    expect(groundTruth()).toHaveLength(0);
  });
});

describe('OpenStack driver: describe and list', () => {
  it('describes a server through BUILD to ACTIVE with its addresses, zone and host', async () => {
    const driver = driverFor();
    const launched = await driver.launch(launchRequest());
    expect((await driver.describe(launched.id)).state).toBe('pending');
    clock.advance(timings.build);
    const running = await driver.describe(launched.id);
    expect(running).toMatchObject({ state: 'running', cloudStatus: 'ACTIVE', zone: 'nova', actionId: launched.actionId });
    expect(running.hostId).toEqual(expect.any(String));
    expect(running.addresses).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'fixed', version: 4, network: 'private' })]));
    expect(running.updatedAt).toEqual(expect.any(String));
  });

  it('lists 25 servers in pages of 10 with three calls', async () => {
    const driver = driverFor({ pageSize: 10 });
    for (let index = 0; index < 25; index++) await driver.launch(launchRequest({ name: `web-${index}` }));
    requests = [];
    const listed = await driver.list();
    expect(listed).toHaveLength(25);
    expect(new Set(listed.map((instance) => instance.id)).size).toBe(25);
    expect(requests.filter((line) => line === 'GET /compute/v2.1/servers/detail')).toHaveLength(3);
  });

  it('lists only the servers Defib launched', async () => {
    const driver = driverFor();
    const ours = await driver.launch(launchRequest());
    const cloud = simulator.clouds.get('sim-openstack');
    const image = cloud?.findImage('fedora-40');
    if (!cloud || !image) throw new Error('no simulated cloud');
    cloud.create({ name: 'not-ours', imageId: image.id, flavorId: '1' });
    expect((await driver.list()).map((instance) => instance.id)).toEqual([ours.id]);
  });

  it('lists the servers changed since a time', async () => {
    const driver = driverFor();
    const before = await launchRunning(driver, { name: 'old' });
    clock.advance(60_000);
    const since = new Date(clock.now()).toISOString();
    clock.advance(1_000);
    const after = await driver.launch(launchRequest({ name: 'new' }));
    const changed = await driver.list({ changesSince: since });
    expect(changed.map((instance) => instance.id)).toEqual([after.id]);
    expect(changed.map((instance) => instance.id)).not.toContain(before.id);
  });

  it('says not-found for a server that is gone', async () => {
    const driver = driverFor();
    const instance = await launchRunning(driver);
    await driver.terminate(instance.id);
    clock.advance(timings.delete);
    const error = await failure(driver.describe(instance.id));
    expect(error).toMatchObject({ kind: 'not-found', status: 404, operation: 'describe' });
  });
});

describe('OpenStack driver: actions', () => {
  it('reboots softly and hard', async () => {
    const driver = driverFor();
    const instance = await launchRunning(driver);
    await driver.reboot(instance.id, { hard: false });
    expect(await driver.describe(instance.id)).toMatchObject({ state: 'rebooting', cloudStatus: expect.stringMatching(/^REBOOT/) as unknown });
    clock.advance(timings.reboot);
    expect((await driver.describe(instance.id)).state).toBe('running');
    await driver.reboot(instance.id, { hard: true });
    expect(await driver.describe(instance.id)).toMatchObject({ state: 'rebooting', cloudStatus: expect.stringMatching(/^HARD_REBOOT/) as unknown });
    clock.advance(timings.hardReboot);
    expect((await driver.describe(instance.id)).state).toBe('running');
  });

  it('stops and starts a server', async () => {
    const driver = driverFor();
    const instance = await launchRunning(driver);
    await driver.stop(instance.id);
    expect(await driver.describe(instance.id)).toMatchObject({ state: 'stopping', cloudStatus: 'ACTIVE/powering-off' });
    clock.advance(timings.stop);
    expect(await driver.describe(instance.id)).toMatchObject({ state: 'stopped', cloudStatus: 'SHUTOFF' });
    await driver.start(instance.id);
    clock.advance(timings.start);
    expect((await driver.describe(instance.id)).state).toBe('running');
  });

  it('says conflict for an action the server cannot take in its state', async () => {
    const driver = driverFor();
    const instance = await launchRunning(driver);
    const error = await failure(driver.start(instance.id));
    expect(error).toMatchObject({ kind: 'conflict', status: 409, operation: 'start' });
  });

  it('terminates a server, and counts terminating one already gone as done', async () => {
    const driver = driverFor();
    const instance = await launchRunning(driver);
    await driver.terminate(instance.id);
    clock.advance(timings.delete);
    await driver.terminate(instance.id);
    expect(groundTruth().every((vm) => vm.state.phase === 'deleted')).toBe(true);
  });
});

interface AnswerLosingProxy {
  url: string;
  /** How many answers it has lost. */
  readonly lost: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of the simulator that passes the first request matching `lose` on to it
 * but never answers: the request takes effect, the client hears nothing, as when a connection
 * dies after the cloud did the work.
 */
async function startAnswerLosingProxy(target: string, lose: (method: string, path: string) => boolean): Promise<AnswerLosingProxy> {
  const upstream = new URL(target);
  let lost = 0;
  const held = new Set<ServerResponse>();
  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const losing = lost === 0 && lose(incoming.method ?? 'GET', new URL(incoming.url ?? '/', 'http://proxy').pathname);
    const forwarded = httpRequest({ host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer) => {
      if (losing) {
        lost++;
        held.add(outgoing);
        answer.resume();
        return;
      }
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    });
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    get lost() {
      return lost;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of held) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
