/**
 * Neutron v2.0, read-only and minimal: version discovery and networks and subnets list/show for one
 * OpenStack cloud, shaped as Zed's ML2 plugin answers them (scripts/openstack-zed). Each simulated
 * network has one IPv4 subnet holding its fixed pool.
 */
import express from 'express';
import type { Request, Response, Router } from 'express';
import type { Cloud, Network } from '../cloud/cloud.ts';
import { isoSeconds, origin } from './endpoints.ts';
import type { Identity } from './identity.ts';
import { ServiceError, admitCall, requireToken, serviceErrorHandler } from './service-gate.ts';

/** A Neutron error (its kind is Neutron's exception type): `{"NeutronError": {"type", "message", "detail"}}`. */
function sendNeutronError(res: Response, error: ServiceError): void {
  res.status(error.status).json({ NeutronError: { type: error.kind, message: error.message, detail: '' } });
}

/** The first and last usable addresses of a CIDR block, and its gateway (.1). */
function subnetRange(cidr: string): { gateway: string; start: string; end: string } {
  const [address = '0.0.0.0', prefixText = '32'] = cidr.split('/');
  const base = address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(prefixText));
  const format = (value: number): string => [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
  return { gateway: format(base + 1), start: format(base + 2), end: format(base + size - 2) };
}

function networkDocument(network: Network, projectId: string): Record<string, unknown> {
  return {
    id: network.id,
    name: network.name,
    tenant_id: projectId,
    admin_state_up: true,
    mtu: 1450,
    status: 'ACTIVE',
    subnets: [network.subnetId],
    shared: false,
    availability_zone_hints: [],
    availability_zones: [],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    'router:external': false,
    description: '',
    port_security_enabled: true,
    tags: [],
    created_at: isoSeconds(network.createdAt),
    updated_at: isoSeconds(network.createdAt),
    revision_number: 2,
    project_id: projectId,
    'provider:network_type': 'vxlan',
    'provider:physical_network': null,
    'provider:segmentation_id': 1 + (Number.parseInt(network.id.replace(/[^0-9a-f]/g, '').slice(0, 6), 16) % 1000),
  };
}

function subnetDocument(network: Network, projectId: string): Record<string, unknown> {
  const range = subnetRange(network.config.fixedCidr);
  return {
    id: network.subnetId,
    name: `${network.name}-subnet`,
    tenant_id: projectId,
    network_id: network.id,
    ip_version: 4,
    subnetpool_id: null,
    enable_dhcp: true,
    ipv6_ra_mode: null,
    ipv6_address_mode: null,
    gateway_ip: range.gateway,
    cidr: network.config.fixedCidr,
    allocation_pools: [{ start: range.start, end: range.end }],
    host_routes: [],
    dns_nameservers: [],
    description: '',
    service_types: [],
    tags: [],
    created_at: isoSeconds(network.createdAt),
    updated_at: isoSeconds(network.createdAt),
    revision_number: 0,
    project_id: projectId,
  };
}

/** Neutron filters any attribute by equality (`?name=private&status=ACTIVE`); a repeated one matches any of its values. */
function matchesFilters(document: Record<string, unknown>, query: Request['query']): boolean {
  return Object.entries(query).every(([key, wanted]) => {
    if (key === 'fields' || key === 'limit' || key === 'marker' || key === 'sort_key' || key === 'sort_dir' || !(key in document)) return true;
    const values = (Array.isArray(wanted) ? wanted : [wanted]).map(String);
    return values.includes(String(document[key]));
  });
}

export function createNeutronRouter(options: { cloud: Cloud; identity: Identity }): Router {
  const { cloud, identity } = options;
  const router = express.Router();

  router.get('/', (req, res) => {
    res.json({ versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `${origin(req)}${req.baseUrl}/v2.0/`, rel: 'self' }] }] });
  });

  /** `GET /v2.0/<collection>` (filtered) and `GET /v2.0/<collection>/{id}`, one document per simulated network. */
  const serveCollection = (collection: 'networks' | 'subnets', notFound: string, render: (network: Network, projectId: string) => Record<string, unknown>): void => {
    const documents = async (req: Request, operation: string): Promise<Record<string, unknown>[]> => {
      const project = requireToken(identity, req).project?.id ?? '';
      await admitCall(cloud, `${collection}.${operation}`, { 429: 'HTTPTooManyRequests', 500: 'HTTPInternalServerError', 503: 'HTTPServiceUnavailable' });
      return cloud.networks.map((network) => render(network, project));
    };
    router.get(`/v2.0/${collection}`, async (req, res) => {
      res.json({ [collection]: (await documents(req, 'list')).filter((document) => matchesFilters(document, req.query)) });
    });
    router.get(`/v2.0/${collection}/:id`, async (req, res) => {
      const document = (await documents(req, 'show')).find((candidate) => candidate.id === req.params.id);
      if (!document) throw new ServiceError(404, notFound, `${notFound.replace(/NotFound$/, '')} ${req.params.id} could not be found.`);
      res.json({ [collection.replace(/s$/, '')]: document });
    });
  };
  serveCollection('networks', 'NetworkNotFound', networkDocument);
  serveCollection('subnets', 'SubnetNotFound', subnetDocument);

  router.use((_req, _res, next) => next(new ServiceError(404, 'HTTPNotFound', 'The resource could not be found.')));
  router.use(serviceErrorHandler(sendNeutronError, new ServiceError(500, 'HTTPInternalServerError', 'Request Failed: internal server error while processing your request.')));
  return router;
}
