import { describe, expect, it } from 'vitest';
import { simulatorPerTest } from './support/simulator-harness.ts';

interface NetworkDocument {
  id: string;
  name: string;
  status: string;
  subnets: string[];
  shared: boolean;
}

const session = simulatorPerTest();

const neutron = (path: string, auth: string | null = session.token): Promise<Response> => fetch(`${session.sim.url}/networking${path}`, { headers: auth === null ? {} : { 'X-Auth-Token': auth } });

describe('neutron version discovery', () => {
  it('lists v2.0 as current, without a token', async () => {
    const response = await neutron('/', null);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `${session.sim.url}/networking/v2.0/`, rel: 'self' }] }] });
  });
});

describe('neutron networks', () => {
  it('lists the cloud\'s networks, each with its one subnet, and shows one by id', async () => {
    const list = (await (await neutron('/v2.0/networks')).json()) as { networks: NetworkDocument[] };
    const cloud = session.sim.simulator.clouds.get('sim-openstack');
    expect(list.networks).toEqual([expect.objectContaining({ id: cloud?.networks[0]?.id, name: 'private', status: 'ACTIVE', shared: false, subnets: [cloud?.networks[0]?.subnetId] })]);
    const network = list.networks[0];
    const shown = (await (await neutron(`/v2.0/networks/${network?.id ?? ''}`)).json()) as { network: NetworkDocument };
    expect(shown.network).toEqual(network);
    const subnet = (await (await neutron(`/v2.0/subnets/${network?.subnets[0] ?? ''}`)).json()) as { subnet: { cidr: string; network_id: string; gateway_ip: string } };
    expect(subnet.subnet).toMatchObject({ cidr: '10.0.0.0/16', network_id: network?.id, gateway_ip: '10.0.0.1' });
  });

  it('filters by any attribute', async () => {
    const byName = (await (await neutron('/v2.0/networks?name=private')).json()) as { networks: NetworkDocument[] };
    expect(byName.networks).toHaveLength(1);
    const none = (await (await neutron('/v2.0/networks?name=public')).json()) as { networks: NetworkDocument[] };
    expect(none.networks).toEqual([]);
  });

  it('answers a missing network with 404 NetworkNotFound and no token with 401', async () => {
    const missing = await neutron('/v2.0/networks/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ NeutronError: { type: 'NetworkNotFound', message: 'Network 00000000-0000-4000-8000-000000000000 could not be found.', detail: '' } });
    expect((await neutron('/v2.0/networks', null)).status).toBe(401);
  });

  it('is in the catalogue as the network service', async () => {
    const response = await fetch(`${session.sim.url}/identity/v3/auth/catalog`, { headers: { 'X-Auth-Token': session.token } });
    const { catalog } = (await response.json()) as { catalog: { type: string; endpoints: { url: string }[] }[] };
    expect(catalog.find((entry) => entry.type === 'network')?.endpoints[0]?.url).toBe(`${session.sim.url}/networking`);
  });
});
