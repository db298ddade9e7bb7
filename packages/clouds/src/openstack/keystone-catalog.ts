/**
 * Keystone v3's service catalogue: which URL serves a service type (`compute`, `image`,
 * `network`) in the registration's region and through its interface (`public`, `internal`,
 * `admin`). A catalogue that lacks what the registration names is a refusal of the registration,
 * said in terms of what the catalogue does have.
 */
import { z } from 'zod';

const endpointSchema = z.looseObject({
  interface: z.string(),
  url: z.string(),
  region_id: z.string().nullish(),
  region: z.string().nullish(),
});

export const catalogSchema = z.array(
  z.looseObject({
    type: z.string(),
    name: z.string().nullish(),
    endpoints: z.array(endpointSchema).default([]),
  }),
);

/** The service catalogue of a project-scoped token. */
export type ServiceCatalog = z.output<typeof catalogSchema>;

/** The service types the driver uses. */
export type ServiceType = 'compute' | 'image' | 'network';

export type EndpointLookup = { readonly url: string } | { readonly problem: string } | { readonly absent: true };

const regionOf = (endpoint: z.output<typeof endpointSchema>): string | undefined => endpoint.region_id ?? endpoint.region ?? undefined;

const listed = (names: Iterable<string>): string => {
  const unique = [...new Set(names)].sort();
  return unique.length === 0 ? 'none' : unique.join(', ');
};

/**
 * The URL of `type` in `region` through `face`, without a trailing slash; `absent` when the
 * catalogue has no such service at all (a cloud without Neutron), else a `problem` saying what is
 * missing and what there is instead.
 */
export function findEndpoint(catalog: ServiceCatalog, type: ServiceType, region: string, face: string): EndpointLookup {
  const regions = catalog.flatMap((service) => service.endpoints.map(regionOf)).filter((name): name is string => name !== undefined);
  if (regions.length > 0 && !regions.includes(region)) {
    return { problem: `region ${region} is not in the service catalogue; it has regions: ${listed(regions)}` };
  }
  const services = catalog.filter((service) => service.type === type);
  if (services.length === 0) return { absent: true };
  const inRegion = services.flatMap((service) => service.endpoints).filter((endpoint) => regionOf(endpoint) === undefined || regionOf(endpoint) === region);
  if (inRegion.length === 0) return { problem: `the service catalogue has no ${type} service in region ${region}` };
  const match = inRegion.find((endpoint) => endpoint.interface === face);
  if (!match) return { problem: `the service catalogue has no ${face} ${type} endpoint in region ${region} (it has: ${listed(inRegion.map((endpoint) => endpoint.interface))})` };
  return { url: match.url.replace(/\/+$/, '') };
}
