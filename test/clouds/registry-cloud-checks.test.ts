/**
 * The registry asks the cloud before it accepts: a registration the cloud refuses is a 422, a
 * manifest naming what the cloud does not offer is a 400 naming the field; a cloud that cannot be
 * reached gets the request accepted with a warning. Real registry, real drivers, the simulator as
 * the cloud over real HTTP.
 */
import { createSimulator, type Simulator } from '@defib/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RegistryHarness } from '../../services/registry/test/registry-harness.ts';
import { freePort } from '../support/ports.ts';

interface Problem {
  status: number;
  detail: string;
  issues?: { path: string; message: string }[];
}

describe('registry: clouds and manifests checked against the cloud', () => {
  let simulator: Simulator;
  let registry: RegistryHarness;
  let simulatorUrl: string;
  let unreachable: string;

  const openstack = (overrides: { password?: string; region?: string; authUrl?: string } = {}) => ({
    provider: 'openstack',
    authUrl: overrides.authUrl ?? `${simulatorUrl}/identity/v3`,
    region: overrides.region ?? 'RegionOne',
    credentials: { username: 'admin', password: overrides.password ?? 'secret', project: 'admin', domain: 'Default' },
  });
  const ec2 = (region = 'us-east-1') => ({
    provider: 'ec2',
    endpoint: `${simulatorUrl}/ec2/`,
    region,
    credentials: { accessKeyId: 'AKIACHECKS000001', secretAccessKey: 'checks-secret-access-key' },
  });
  const manifest = (cloud: string, assemblies: object[]) => ({ apiVersion: 'defib/v1', kind: 'Deployable', name: 'shop', cloud, assemblies });

  beforeAll(async () => {
    simulator = createSimulator({
      clouds: [
        { name: 'sim-openstack', provider: 'openstack' },
        { name: 'sim-ec2', provider: 'ec2' },
      ],
    });
    simulatorUrl = (await simulator.start(0)).url;
    unreachable = `http://127.0.0.1:${await freePort()}`;
    registry = await startRegistry();
  });

  afterAll(async () => {
    await registry?.close();
    await simulator?.stop();
  });

  describe('registering a cloud', () => {
    it('accepts a registration the cloud accepts, with nothing to warn about', async () => {
      const cloud = await registry.json<Record<string, unknown>>('PUT', '/v1/clouds/good-openstack', 201, { body: openstack() });
      expect(cloud).not.toHaveProperty('warnings');
      const ec2Cloud = await registry.json<Record<string, unknown>>('PUT', '/v1/clouds/good-ec2', 201, { body: ec2() });
      expect(ec2Cloud).not.toHaveProperty('warnings');
    });

    it('refuses a wrong password with 422, saying the cloud refused the credentials, never echoing them', async () => {
      const response = await registry.request('PUT', '/v1/clouds/wrong-password', { body: openstack({ password: 'not-the-password-42' }) });
      expect(response.status).toBe(422);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      const text = await response.text();
      expect(text).not.toContain('not-the-password-42');
      expect((JSON.parse(text) as Problem).detail).toMatch(/^cloud wrong-password cannot be used as registered: the cloud refused the credentials/);
      await registry.json('GET', '/v1/clouds/wrong-password', 404);
    });

    it('refuses a region the cloud does not have, naming the regions it does', async () => {
      const problem = await registry.json<Problem>('PUT', '/v1/clouds/wrong-region', 422, { body: openstack({ region: 'Atlantis' }) });
      expect(problem.detail).toContain('Atlantis');
      expect(problem.detail).toContain('RegionOne');
      const ec2Problem = await registry.json<Problem>('PUT', '/v1/clouds/wrong-ec2-region', 422, { body: ec2('mars-north-1') });
      expect(ec2Problem.detail).toContain('mars-north-1');
    });

    it('accepts a cloud it cannot reach, with a warning that it is checked again at launch', async () => {
      const cloud = await registry.json<{ warnings?: string[] }>('PUT', '/v1/clouds/far-away', 201, { body: openstack({ authUrl: `${unreachable}/identity/v3`, password: 'unseen-password-7' }) });
      expect(cloud.warnings).toEqual([expect.stringMatching(/^could not reach cloud far-away to check the registration \(.+\); it is checked again at launch$/)]);
      expect(JSON.stringify(cloud)).not.toContain('unseen-password-7');
      const again = await registry.json<{ warnings?: string[] }>('GET', '/v1/clouds/far-away', 200);
      expect(again).not.toHaveProperty('warnings');
    });
  });

  describe('applying a manifest', () => {
    it('accepts a manifest whose images and flavors the cloud offers', async () => {
      const deployable = await registry.json<Record<string, unknown>>('PUT', '/v1/deployables/shop', 201, {
        body: manifest('good-openstack', [{ name: 'db', image: 'fedora-40', flavor: 'm1.small' }, { name: 'web', image: 'ubuntu-24.04', flavor: 'm1.tiny', dependsOn: ['db'] }]),
      });
      expect(deployable).not.toHaveProperty('warnings');
    });

    it('refuses an image, a flavor and a network the cloud does not have with 400, naming each field and what the cloud offers', async () => {
      const problem = await registry.json<Problem>('PUT', '/v1/deployables/shop', 400, {
        body: manifest('good-openstack', [{ name: 'db', image: 'fedora-40', flavor: 'm1.small', network: 'private' }, { name: 'web', image: 'centos-7', flavor: 'm9.huge', network: 'dmz' }]),
      });
      expect(problem.issues).toEqual([
        { path: 'assemblies[1].image', message: expect.stringMatching(/^cloud good-openstack has no image named "centos-7"; it offers .*fedora-40.*ubuntu-24\.04/) as string },
        { path: 'assemblies[1].flavor', message: expect.stringMatching(/^cloud good-openstack has no flavor named "m9\.huge"; it offers .*m1\.small/) as string },
        { path: 'assemblies[1].network', message: 'cloud good-openstack has no network named "dmz"; it offers private' },
      ]);
      // The stored manifest is the one accepted before.
      const stored = await registry.json<{ version: number; manifest: { assemblies: { image: string }[] } }>('GET', '/v1/deployables/shop', 200);
      expect(stored.manifest.assemblies.map((assembly) => assembly.image)).toEqual(['fedora-40', 'ubuntu-24.04']);
    });

    it('checks instance types on EC2 the same way', async () => {
      const problem = await registry.json<Problem>('PUT', '/v1/deployables/shop-ec2', 400, { body: { ...manifest('good-ec2', [{ name: 'db', image: 'fedora-40', flavor: 'x9.enormous' }]), name: 'shop-ec2' } });
      expect(problem.issues).toEqual([{ path: 'assemblies[0].flavor', message: expect.stringMatching(/^cloud good-ec2 has no flavor named "x9\.enormous"; it offers .*t3\.micro/) as string }]);
    });

    it('accepts a manifest for a cloud it cannot reach, with a warning', async () => {
      const deployable = await registry.json<{ warnings?: string[] }>('PUT', '/v1/deployables/remote', 201, { body: { ...manifest('far-away', [{ name: 'db', image: 'fedora-40', flavor: 'm1.small' }]), name: 'remote' } });
      expect(deployable.warnings).toEqual([expect.stringMatching(/^could not reach cloud far-away to check the images and flavors the manifest names/)]);
    });
  });

  it('counts its requests to each cloud on /metrics, by operation and outcome', async () => {
    const metrics = await (await registry.request('GET', '/metrics')).text();
    const count = (cloud: string, outcome: string) =>
      metrics.split('\n').filter((line) => line.startsWith('defib_cloud_requests_total{') && line.includes(`cloud="${cloud}"`) && line.includes(`outcome="${outcome}"`)).length;
    expect(count('good-openstack', 'ok')).toBeGreaterThan(0);
    expect(count('wrong-password', 'auth')).toBe(1);
    expect(count('far-away', 'unavailable')).toBe(1);
    expect(metrics).toMatch(/^defib_cloud_calls_waiting\{[^}]*cloud="good-openstack"[^}]*\} 0$/m);
  });
});
