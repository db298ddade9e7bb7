import { describe, expect, it } from 'vitest';
import { catalogSchema, findEndpoint } from './keystone-catalog.ts';

const catalog = catalogSchema.parse([
  {
    type: 'compute',
    endpoints: [
      { interface: 'public', region_id: 'RegionOne', url: 'https://cloud.example/compute/v2.1/' },
      { interface: 'internal', region_id: 'RegionOne', url: 'http://10.0.0.1:8774/v2.1' },
      { interface: 'public', region: 'RegionTwo', url: 'https://two.example/compute/v2.1' },
    ],
  },
  { type: 'image', endpoints: [{ interface: 'public', region_id: 'RegionTwo', url: 'https://two.example/image' }] },
]);

describe('findEndpoint', () => {
  it('picks the URL by type, region and interface, without its trailing slash', () => {
    expect(findEndpoint(catalog, 'compute', 'RegionOne', 'public')).toEqual({ url: 'https://cloud.example/compute/v2.1' });
    expect(findEndpoint(catalog, 'compute', 'RegionOne', 'internal')).toEqual({ url: 'http://10.0.0.1:8774/v2.1' });
  });

  it('names the regions the catalogue has when asked for another', () => {
    expect(findEndpoint(catalog, 'compute', 'RegionThree', 'public')).toEqual({ problem: 'region RegionThree is not in the service catalogue; it has regions: RegionOne, RegionTwo' });
  });

  it('says which interfaces there are when the one asked for is missing', () => {
    expect(findEndpoint(catalog, 'compute', 'RegionTwo', 'admin')).toEqual({ problem: 'the service catalogue has no admin compute endpoint in region RegionTwo (it has: public)' });
  });

  it('tells a service missing in the region from a service missing everywhere', () => {
    expect(findEndpoint(catalog, 'image', 'RegionOne', 'public')).toEqual({ problem: 'the service catalogue has no image service in region RegionOne' });
    expect(findEndpoint(catalog, 'network', 'RegionOne', 'public')).toEqual({ absent: true });
  });
});
