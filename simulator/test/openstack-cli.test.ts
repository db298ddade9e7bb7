/**
 * The standard OpenStack client (python-openstackclient, from Debian's packages), unmodified,
 * against the simulator: discovery, token, catalog, microversions and the server lifecycle the
 * way operators drive a real cloud. Runs when the `openstack` command is installed (`.ci/run`
 * installs it where it can); elsewhere it is skipped and says so.
 */
import { processEnvironment } from '@defib/platform';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/index.ts';
import { createSimulator, type Simulator } from '../src/index.ts';

const run = promisify(execFile);

async function cliAvailable(): Promise<boolean> {
  try {
    await run('openstack', ['--version']);
    return true;
  } catch {
    return false;
  }
}

const available = await cliAvailable();

/**
 * Each `openstack` command is a Python process that spends ~3.5 s starting before it sends a
 * request on an idle machine and ~9 s on 2 cores shared with other test runs (measured: the
 * three tests took 25 s, 88 s and 35 s there), so the tests' timeouts are set from the number
 * of commands they run, at about twice the loaded figure, not left at the suite's 30 s default.
 */
const COMMAND_BUDGET_MS = 20_000;

describe.skipIf(!available)('the standard openstack client, unmodified', { timeout: 4 * COMMAND_BUDGET_MS }, () => {
  let sim: Simulator;
  let env: NodeJS.ProcessEnv;

  async function openstack(...args: string[]): Promise<string> {
    const { stdout } = await run('openstack', args, { env, timeout: 60_000 });
    return stdout.trim();
  }

  async function json<T>(...args: string[]): Promise<T> {
    return JSON.parse(await openstack(...args, '-f', 'json')) as T;
  }

  async function statusOf(name: string): Promise<string> {
    return openstack('server', 'show', name, '-f', 'value', '-c', 'status');
  }

  async function untilStatus(name: string, status: string): Promise<void> {
    await waitFor(async () => ((await statusOf(name)) === status ? true : undefined), { what: `${name} to be ${status}`, timeoutMs: 4 * COMMAND_BUDGET_MS, intervalMs: 100 });
  }

  beforeAll(async () => {
    sim = createSimulator({ seed: 'cli', speedFactor: 50 });
    const { url } = await sim.start(0);
    env = {
      PATH: processEnvironment().PATH,
      HOME: processEnvironment().HOME,
      OS_AUTH_URL: `${url}/identity/v3`,
      OS_USERNAME: 'admin',
      OS_PASSWORD: 'secret',
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_IDENTITY_API_VERSION: '3',
      OS_REGION_NAME: 'RegionOne',
    };
  });

  afterAll(async () => {
    await sim?.stop();
  });

  it('authenticates and lists the catalogue, images, flavors and networks', { timeout: 5 * COMMAND_BUDGET_MS }, async () => {
    expect(await openstack('token', 'issue', '-f', 'value', '-c', 'project_id')).toMatch(/^[0-9a-f]{32}$/);
    const images = await json<{ Name: string }[]>('image', 'list');
    expect(images.map((image) => image.Name)).toContain('fedora-40');
    const flavors = await json<{ Name: string }[]>('flavor', 'list');
    expect(flavors.map((flavor) => flavor.Name)).toContain('m1.small');
    const networks = await json<{ Name: string; Subnets: string[] }[]>('network', 'list');
    expect(networks).toEqual([expect.objectContaining({ Name: 'private', Subnets: [expect.any(String)] })]);
  });

  it('creates, reboots, stops, starts and deletes a server, waiting as operators do', { timeout: 14 * COMMAND_BUDGET_MS }, async () => {
    const created = await json<{ id: string; status: string }>('server', 'create', '--image', 'fedora-40', '--flavor', 'm1.small', '--network', 'private', '--wait', 'cli-vm');
    expect(created.status).toBe('ACTIVE');
    await openstack('server', 'reboot', '--hard', '--wait', 'cli-vm');
    await openstack('server', 'stop', 'cli-vm');
    await untilStatus('cli-vm', 'SHUTOFF');
    await openstack('server', 'start', created.id);
    await untilStatus('cli-vm', 'ACTIVE');
    const listed = await json<{ Name: string; Status: string }[]>('server', 'list');
    expect(listed.map((server) => server.Name)).toEqual(['cli-vm']);
    await openstack('server', 'delete', '--wait', 'cli-vm');
    expect(await json<unknown[]>('server', 'list')).toEqual([]);
  });

  it('reports a refused action with the provider error', { timeout: 6 * COMMAND_BUDGET_MS }, async () => {
    await openstack('server', 'create', '--image', 'fedora-40', '--flavor', 'm1.small', '--wait', 'busy-vm');
    await expect(openstack('server', 'start', 'busy-vm')).rejects.toMatchObject({ stderr: expect.stringContaining('HTTP 409') as unknown });
    await openstack('server', 'delete', '--wait', 'busy-vm');
  });
});

