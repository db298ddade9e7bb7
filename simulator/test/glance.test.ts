import { describe, expect, it } from 'vitest';
import { simulatorPerTest } from './support/simulator-harness.ts';

interface ImageDocument {
  id: string;
  name: string;
  status: string;
  visibility: string;
  self: string;
}

const session = simulatorPerTest();

const glance = (path: string, auth: string | null = session.token): Promise<Response> => fetch(`${session.sim.url}/image${path}`, { headers: auth === null ? {} : { 'X-Auth-Token': auth } });

describe('glance version discovery', () => {
  it('lists v2 versions at /image with 300 and links to /image/v2/', async () => {
    const response = await glance('', null);
    expect(response.status).toBe(300);
    const body = (await response.json()) as { versions: { id: string; status: string; links: { href: string }[] }[] };
    expect(body.versions[0]).toEqual({ id: 'v2.15', status: 'CURRENT', links: [{ rel: 'self', href: `${session.sim.url}/image/v2/` }] });
  });
});

describe('glance images', () => {
  it('lists the configured images as active public images', async () => {
    const response = await glance('/v2/images');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { images: ImageDocument[]; first: string };
    expect(body.images.map((image) => image.name)).toEqual(['fedora-40', 'cirros-0.6.2-x86_64-disk', 'ubuntu-24.04']);
    expect(body.images[0]).toMatchObject({ status: 'active', visibility: 'public', self: `/v2/images/${body.images[0]?.id ?? ''}` });
    expect(body.first).toBe('/v2/images');
  });

  it('filters by name and pages with limit and marker', async () => {
    const byName = (await (await glance('/v2/images?name=ubuntu-24.04')).json()) as { images: ImageDocument[] };
    expect(byName.images.map((image) => image.name)).toEqual(['ubuntu-24.04']);
    const page = (await (await glance('/v2/images?limit=2')).json()) as { images: ImageDocument[]; next: string };
    expect(page.images).toHaveLength(2);
    const rest = (await (await glance(page.next)).json()) as { images: ImageDocument[]; next?: string };
    expect(rest.images.map((image) => image.name)).toEqual(['ubuntu-24.04']);
    expect(rest.next).toBeUndefined();
  });

  it('shows one image and answers unknown ids with 404 JSON', async () => {
    const id = session.sim.simulator.clouds.get('sim-openstack')?.images[0]?.id ?? '';
    expect(((await (await glance(`/v2/images/${id}`)).json()) as ImageDocument).name).toBe('fedora-40');
    const missing = await glance('/v2/images/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: 'No image found with ID nope', code: '404 Not Found', title: 'Not Found' });
  });

  it('requires a token', async () => {
    expect((await glance('/v2/images', null)).status).toBe(401);
  });
});
