/**
 * Nova's compute API v2.1 for one OpenStack cloud: version documents, servers, server actions and
 * metadata, flavors, availability zones and the image and network proxies of 2.1 (gone at 2.36),
 * with microversions and Keystone tokens, as Zed answers them (simulator/test/fidelity.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { shapeProblem } from '@defib/contracts';
import express from 'express';
import type { ErrorRequestHandler, NextFunction, Request, Response, Router } from 'express';
import type { Cloud, CreateVmRequest } from '../cloud/cloud.ts';
import type { Vm, VmTag } from '../cloud/vm.ts';
import { novaState } from '../cloud/nova-state.ts';
import type { NovaStatus } from '../cloud/nova-state.ts';
import { origin } from './endpoints.ts';
import type { Identity, Token } from './identity.ts';
import { KeystoneError, sendKeystoneError } from './keystone-routes.ts';
import { UnsupportedMicroversionError, atLeast, formatMicroversion, negotiateMicroversion } from './microversion.ts';
import type { Microversion } from './microversion.ts';
import { badRequest, invalidField, invalidQuery, itemNotFound, pythonLiteral, novaFaultFromRejection, sendNovaFault, serverNotFound, toNovaFault } from './nova-errors.ts';
import { computeVersion, computeVersions, flavorDetail, flavorSummary, proxiedImage, proxiedNetwork, serverDetail, serverSummary } from './nova-views.ts';
import type { NovaViewContext } from './nova-views.ts';
import { requireToken } from './service-gate.ts';

/** Nova's `osapi_max_limit`: the longest page a list returns. */
const maxPageSize = 1000;
/** Far deeper than any Nova request body. */
const MAX_BODY_DEPTH = 32;

const createFields = new Set([
  'name', 'imageRef', 'flavorRef', 'networks', 'availability_zone', 'user_data', 'metadata', 'tags', 'key_name', 'min_count', 'max_count', 'return_reservation_id',
  'security_groups', 'adminPass', 'accessIPv4', 'accessIPv6', 'OS-DCF:diskConfig', 'config_drive', 'block_device_mapping_v2', 'description', 'personality', 'hostname',
  'host', 'hypervisor_hostname', 'trusted_image_certificates',
]);

const rebootTypes = ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft'];

/** The server list's query parameters, each list from the microversion that brought it (2.1, 2.26, …). */
const serverListParameters: readonly { since: number; names: readonly string[] }[] = [
  {
    since: 1,
    names: [
      'user_id', 'project_id', 'tenant_id', 'launch_index', 'image_ref', 'image', 'kernel_id', 'ramdisk_id', 'hostname', 'key_name', 'power_state', 'vm_state', 'task_state', 'host', 'node',
      'flavor', 'reservation_id', 'launched_at', 'terminated_at', 'availability_zone', 'name', 'display_name', 'description', 'display_description', 'locked_by', 'uuid',
      'root_device_name', 'config_drive', 'access_ip_v4', 'access_ip_v6', 'auto_disk_config', 'progress', 'sort_key', 'sort_dir', 'all_tenants', 'soft_deleted', 'deleted', 'status',
      'changes-since', 'ip', 'ip6', 'created_at', 'limit', 'marker',
    ],
  },
  { since: 26, names: ['tags', 'tags-any', 'not-tags', 'not-tags-any'] },
  { since: 66, names: ['changes-before'] },
  { since: 73, names: ['locked'] },
];
/** Filters on what Nova keeps in other tables: known to its schema, refused by its API. */
const refusedFilters = new Set(['block_device_mapping', 'services', 'metadata', 'system_metadata', 'info_cache', 'security_groups', 'pci_devices']);

/**
 * Nova ignores query parameters it does not know until 2.75 and refuses them from 2.75 on; the
 * names of internal attributes (a leading `_`) and joined-table filters it refuses always.
 */
function checkServerListQuery(query: Record<string, string>, version: Microversion): void {
  const known = new Set(serverListParameters.filter((entry) => atLeast(version, 2, entry.since)).flatMap((entry) => entry.names));
  for (const key of Object.keys(query)) {
    if (refusedFilters.has(key) || key.startsWith('_')) throw badRequest(`Invalid filter field: ${key}.`);
    if (atLeast(version, 2, 75) && !known.has(key)) throw badRequest(`'${key}' does not match any of the regexes: '^_'`);
  }
}

interface NovaLocals {
  version: Microversion;
  token: Token;
}

export function createNovaRouter(options: { cloud: Cloud; identity: Identity }): Router {
  const { cloud, identity } = options;
  const router = express.Router();

  // Inside the versioned sub-router baseUrl ends in /v2.1; links are built from the service root.
  const computeRoot = (req: Request): string => `${origin(req)}${req.baseUrl.replace(/\/v2\.1$/, '')}`;
  const locals = (res: Response): NovaLocals => res.locals as NovaLocals;
  const context = (req: Request, res: Response): NovaViewContext => ({ computeRoot: computeRoot(req), imageRoot: computeRoot(req), version: locals(res).version, token: locals(res).token, cloud });
  const admit = async (operation: string): Promise<void> => {
    const rejection = await cloud.admit(operation);
    if (rejection) throw novaFaultFromRejection(rejection);
  };
  const visibleServer = (id: string): Readonly<Vm> => {
    const vm = cloud.get(id);
    if (!vm || vm.state.phase === 'deleted') throw serverNotFound(id);
    return vm;
  };

  router.use((_req, res, next) => {
    const id = `req-${randomUUID()}`;
    res.set({ 'x-openstack-request-id': id, 'x-compute-request-id': id });
    next();
  });

  const echoVersion = (res: Response, version: string): void => {
    res.set({ 'OpenStack-API-Version': `compute ${version}`, 'X-OpenStack-Nova-API-Version': version, Vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version' });
  };
  /** The requested microversion; a 406 still echoes what was asked for, as Nova does. */
  const negotiate = (req: Request, res: Response): Microversion => {
    try {
      const version = negotiateMicroversion({ openStackApiVersion: req.get('OpenStack-API-Version'), novaApiVersion: req.get('X-OpenStack-Nova-API-Version') });
      echoVersion(res, formatMicroversion(version));
      return version;
    } catch (error) {
      if (error instanceof UnsupportedMicroversionError) echoVersion(res, error.requested);
      throw error;
    }
  };

  router.get('/', (req, res) => {
    res.json(computeVersions(computeRoot(req)));
  });
  router.get(['/v2.1', '/v2.1/'], (req, res) => {
    negotiate(req, res);
    res.json({ version: computeVersion(computeRoot(req)) });
  });

  const api = express.Router();
  router.use('/v2.1', api);
  api.use(express.json({ type: () => true, limit: '1mb' }));
  api.use((req: Request, _res: Response, next: NextFunction) => {
    // Nova's errors quote the values they refuse; a body nested thousands deep cannot be quoted.
    const problem = shapeProblem(req.body, MAX_BODY_DEPTH);
    if (problem !== undefined) throw badRequest(`Malformed request body: it ${problem}`);
    next();
  });
  api.use((req: Request, res: Response, next: NextFunction) => {
    // keystonemiddleware turns a request without a valid token away before Nova reads its microversion.
    const token = requireToken(identity, req);
    const version = negotiate(req, res);
    Object.assign(res.locals, { version, token } satisfies NovaLocals);
    next();
  });

  const listServers = async (req: Request, res: Response, detail: boolean): Promise<void> => {
    await admit(detail ? 'servers.detail' : 'servers.list');
    const view = context(req, res);
    const query = queryStrings(req);
    checkServerListQuery(query, view.version);
    // `deleted=true` lists only deleted servers; a changes-since/-before window lists the servers
    // deleted in it beside the others (status DELETED), as does asking for that status.
    const changesBefore = atLeast(view.version, 2, 66) ? query['changes-before'] : undefined;
    const deletedOnly = query.deleted !== undefined && ['true', 'True', '1'].includes(query.deleted);
    const includeDeleted = deletedOnly || query['changes-since'] !== undefined || changesBefore !== undefined || query.status?.toUpperCase() === 'DELETED';
    let vms = cloud
      .list()
      .filter((vm) => (deletedOnly ? vm.state.phase === 'deleted' : includeDeleted || vm.state.phase !== 'deleted'))
      .sort((a, b) => b.sequence - a.sequence);
    if (query.name !== undefined) {
      const pattern = safeRegExp(query.name);
      vms = vms.filter((vm) => pattern.test(vm.name));
    }
    if (query.status !== undefined) {
      const statuses = query.status.split(',').map((status) => status.trim().toUpperCase() as NovaStatus);
      vms = vms.filter((vm) => statuses.includes(novaState(vm.state).status));
    }
    if (query.image !== undefined) vms = vms.filter((vm) => vm.imageId === query.image);
    if (query.flavor !== undefined) vms = vms.filter((vm) => vm.flavorId === query.flavor);
    if (query.availability_zone !== undefined) vms = vms.filter((vm) => vm.zone === query.availability_zone);
    if (query.ip !== undefined) {
      const pattern = safeRegExp(query.ip);
      vms = vms.filter((vm) => vm.addresses.some((address) => pattern.test(address.address)));
    }
    if (query.tags !== undefined) {
      const wanted = query.tags.split(',');
      vms = vms.filter((vm) => wanted.every((tag) => vm.tags.some((candidate) => candidate.key === tag)));
    }
    if (query['tags-any'] !== undefined) {
      const wanted = query['tags-any'].split(',');
      vms = vms.filter((vm) => wanted.some((tag) => vm.tags.some((candidate) => candidate.key === tag)));
    }
    if (query['changes-since'] !== undefined) {
      const since = Date.parse(query['changes-since']);
      if (Number.isNaN(since)) throw invalidQuery('changes-since', query['changes-since'], `'${query['changes-since']}' is not a 'date-time'`);
      vms = vms.filter((vm) => vm.updatedAt >= since);
    }
    if (changesBefore !== undefined) {
      const before = Date.parse(changesBefore);
      if (Number.isNaN(before)) throw invalidQuery('changes-before', changesBefore, `'${changesBefore}' is not a 'date-time'`);
      vms = vms.filter((vm) => vm.updatedAt <= before);
    }
    const limit = parseLimit(query.limit);
    if (query.marker !== undefined) {
      const index = vms.findIndex((vm) => vm.id === query.marker);
      if (index < 0) throw badRequest(`marker [${query.marker}] not found`);
      vms = vms.slice(index + 1);
    }
    const page = vms.slice(0, limit);
    const body: Record<string, unknown> = { servers: page.map((vm) => (detail ? serverDetail(vm, view) : serverSummary(vm, view))) };
    const last = page.at(-1);
    // Nova links to a next page whenever a page is full, even when nothing follows it.
    if (last && page.length === limit) {
      const next = new URLSearchParams({ ...query, limit: String(limit), marker: last.id });
      body.servers_links = [{ rel: 'next', href: `${view.computeRoot}/v2.1/servers${detail ? '/detail' : ''}?${next.toString()}` }];
    }
    res.json(body);
  };

  api.get('/servers', (req, res) => listServers(req, res, false));
  api.get('/servers/detail', (req, res) => listServers(req, res, true));

  api.get('/servers/:id', async (req, res) => {
    await admit('servers.show');
    res.json({ server: serverDetail(visibleServer(req.params.id), context(req, res)) });
  });

  api.get('/servers/:id/metadata', async (req, res) => {
    await admit('servers.metadata.list');
    res.json({ metadata: visibleServer(req.params.id).metadata });
  });
  api.get('/servers/:id/metadata/:key', async (req, res) => {
    await admit('servers.metadata.show');
    const metadata = visibleServer(req.params.id).metadata;
    const value = Object.hasOwn(metadata, req.params.key) ? metadata[req.params.key] : undefined;
    if (value === undefined) throw itemNotFound('Metadata item was not found');
    res.json({ meta: { [req.params.key]: value } });
  });

  api.get('/servers/:id/tags', async (req, res) => {
    if (!atLeast(locals(res).version, 2, 26)) throw itemNotFound('The resource could not be found.');
    await admit('servers.tags.list');
    res.json({ tags: visibleServer(req.params.id).tags.map((tag) => tag.key) });
  });

  api.post('/servers', async (req, res) => {
    await admit('servers.create');
    const view = context(req, res);
    const { request, count, returnReservationId } = parseCreateRequest(req.body, view.version);
    const vms = cloud.create(request, count);
    const first = vms[0];
    if (!first) throw badRequest('min_count must be at least 1');
    if (returnReservationId) {
      res.status(202).json({ reservation_id: first.reservationId });
      return;
    }
    const self = `${view.computeRoot}/v2.1/servers/${first.id}`;
    res
      .status(202)
      .location(self)
      .json({ server: { id: first.id, links: [{ rel: 'self', href: self }, { rel: 'bookmark', href: `${view.computeRoot}/servers/${first.id}` }], 'OS-DCF:diskConfig': 'MANUAL', security_groups: [{ name: 'default' }], adminPass: first.adminPass } });
  });

  api.delete('/servers/:id', async (req, res) => {
    await admit('servers.delete');
    visibleServer(req.params.id);
    cloud.request(req.params.id, 'delete');
    res.status(204).end();
  });

  api.post('/servers/:id/action', async (req, res) => {
    const body = asRecord(req.body);
    const keys = body ? Object.keys(body) : [];
    const action = keys[0];
    if (!body || keys.length !== 1 || action === undefined) throw badRequest('Malformed request body');
    await admit(`servers.action.${action}`);
    const vm = visibleServer(req.params.id);
    const argument = body[action];
    switch (action) {
      case 'reboot': {
        const type = asRecord(argument)?.type;
        if (type === undefined) throw invalidField('reboot', argument, "'type' is a required property");
        if (typeof type !== 'string' || !rebootTypes.includes(type)) throw invalidField('type', type, `${pythonLiteral(type)} is not one of ${pythonLiteral(rebootTypes)}`);
        cloud.request(vm.id, type.toUpperCase() === 'HARD' ? 'hard-reboot' : 'reboot');
        res.status(202).end();
        return;
      }
      case 'os-start':
        cloud.request(vm.id, 'start');
        res.status(202).end();
        return;
      case 'os-stop':
        cloud.request(vm.id, 'stop');
        res.status(202).end();
        return;
      case 'rebuild': {
        const rebuild = asRecord(argument);
        if (!rebuild) throw invalidField('rebuild', argument, "'rebuild' must be an object");
        const imageRef = rebuild.imageRef;
        if (typeof imageRef !== 'string' || imageRef === '') throw invalidField('rebuild', argument, "'imageRef' is a required property");
        const name = rebuild.name === undefined ? undefined : requireName(rebuild.name);
        const metadata = rebuild.metadata === undefined ? undefined : parseMetadata(rebuild.metadata);
        cloud.rebuild(vm.id, { imageId: lastSegment(imageRef), name, metadata });
        const view = context(req, res);
        res.status(202).json({ server: { ...serverDetail(cloud.require(vm.id), view), adminPass: vm.adminPass } });
        return;
      }
      default:
        throw badRequest(`There is no such action: ${action}`);
    }
  });

  api.get('/flavors', async (req, res) => {
    await admit('flavors.list');
    const view = context(req, res);
    res.json({ flavors: cloud.flavors.map((flavor) => flavorSummary(flavor, view)) });
  });
  api.get('/flavors/detail', async (req, res) => {
    await admit('flavors.detail');
    const view = context(req, res);
    res.json({ flavors: cloud.flavors.map((flavor) => flavorDetail(flavor, view)) });
  });
  const findFlavor = (id: string) => {
    const flavor = cloud.flavors.find((candidate) => candidate.id === id);
    if (!flavor) throw itemNotFound(`Flavor ${id} could not be found.`);
    return flavor;
  };
  api.get('/flavors/:id', async (req, res) => {
    await admit('flavors.show');
    res.json({ flavor: flavorDetail(findFlavor(req.params.id), context(req, res)) });
  });
  // Simulated flavors carry no extra specs; clients such as `openstack flavor list` still ask.
  api.get('/flavors/:id/os-extra_specs', async (req, res) => {
    await admit('flavors.extra-specs.list');
    findFlavor(req.params.id);
    context(req, res);
    res.json({ extra_specs: {} });
  });
  api.get('/flavors/:id/os-extra_specs/:key', async (req) => {
    await admit('flavors.extra-specs.show');
    findFlavor(req.params.id);
    throw itemNotFound(`Flavor ${req.params.id} has no extra specs with key ${req.params.key}.`);
  });

  // The proxies to Glance and Neutron of microversion 2.1, removed at 2.36 (404 from then on).
  const proxy = (req: Request, res: Response, next: NextFunction): void => {
    if (atLeast(locals(res).version, 2, 36)) throw itemNotFound('The resource could not be found.');
    next();
  };
  api.get('/images', proxy, async (req, res) => {
    await admit('images.list');
    const view = context(req, res);
    const glanceRoot = view.computeRoot.replace(/\/compute$/, '/image');
    res.json({ images: cloud.images.map((image) => proxiedImage(image, view, glanceRoot)) });
  });
  api.get('/os-networks', proxy, async (_req, res) => {
    await admit('networks.list');
    res.json({ networks: cloud.networks.map(proxiedNetwork) });
  });

  api.get('/os-availability-zone', async (_req, res) => {
    await admit('availability-zones.list');
    res.json({ availabilityZoneInfo: cloud.config.zones.map((zone) => ({ zoneName: zone.name, zoneState: { available: true }, hosts: null })) });
  });

  router.use((_req, _res, next) => next(itemNotFound('The resource could not be found.')));
  const handleError: ErrorRequestHandler = (error: unknown, req, res, _next) => {
    // Token checks come from keystonemiddleware in front of Nova, so 401s keep Keystone's format.
    if (error instanceof KeystoneError) return sendKeystoneError(res, req, error);
    sendNovaFault(res, toNovaFault(error));
  };
  router.use(handleError);
  return router;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Query parameters as single strings (the last one wins when repeated). */
function queryStrings(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.query)) {
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (typeof last === 'string') out[key] = last;
  }
  return out;
}

/** Nova filters names as regular expressions; an invalid one matches literally. */
function safeRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch {
    return new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  }
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return maxPageSize;
  if (!/^[0-9]+$/.test(value)) throw invalidQuery('limit', value, `'${value}' does not match '^[0-9]*$'`);
  return Math.min(Number(value), maxPageSize);
}

/** The id at the end of a reference that may be an href. */
function lastSegment(reference: string): string {
  return reference.split('/').filter(Boolean).at(-1) ?? reference;
}

function requireName(value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > 255) throw invalidField('name', value, typeof value === 'string' ? `'${value}' does not match a valid name` : `${pythonLiteral(value)} is not of type 'string'`);
  return value;
}

function parseMetadata(value: unknown): Record<string, string> {
  const metadata = asRecord(value);
  if (!metadata) throw invalidField('metadata', value, `${pythonLiteral(value)} is not of type 'object'`);
  for (const [key, entry] of Object.entries(metadata)) {
    if (key.length === 0 || key.length > 255) throw invalidField('metadata', value, `'${key}' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'`);
    if (typeof entry !== 'string') throw invalidField(key, entry, `${pythonLiteral(entry)} is not of type 'string'`);
    if (entry.length > 255) throw invalidField(key, entry, `'${entry}' is too long`);
  }
  return metadata as Record<string, string>;
}

function isBase64(value: string): boolean {
  return value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value);
}

function parseCount(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const count = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) throw invalidField(field, value, `${pythonLiteral(value)} is less than the minimum of 1`);
  return count;
}

function parseCreateRequest(body: unknown, version: Microversion): { request: CreateVmRequest; count: number; returnReservationId: boolean } {
  const server = asRecord(asRecord(body)?.server);
  if (!server) throw invalidField('server', body, "'server' is a required property");
  for (const key of Object.keys(server)) {
    if (!createFields.has(key) || (key === 'tags' && !atLeast(version, 2, 52))) throw badRequest(`Invalid input for field/attribute server. Value: ${pythonLiteral(server)}. Additional properties are not allowed ('${key}' was unexpected)`);
  }
  if (server.name === undefined) throw invalidField('server', server, "'name' is a required property");
  const name = requireName(server.name);
  if (server.flavorRef === undefined) throw invalidField('server', server, "'flavorRef' is a required property");
  if (typeof server.flavorRef !== 'string' && typeof server.flavorRef !== 'number') throw invalidField('flavorRef', server.flavorRef, `${pythonLiteral(server.flavorRef)} is not of type 'string', 'integer'`);
  if (typeof server.imageRef !== 'string' || server.imageRef === '') throw badRequest('Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.');
  if (server.networks === undefined && atLeast(version, 2, 37)) throw invalidField('server', server, "'networks' is a required property");
  let networks: string[] | 'none' | undefined;
  if (Array.isArray(server.networks)) {
    networks = server.networks.map((entry) => {
      const uuid = asRecord(entry)?.uuid;
      if (typeof uuid !== 'string') throw badRequest('Bad networks format: network uuid is not in proper format');
      return uuid;
    });
  } else if (server.networks === 'none') {
    networks = 'none';
  } else if (server.networks !== undefined && server.networks !== 'auto') {
    throw invalidField('networks', server.networks, `${pythonLiteral(server.networks)} is not one of ['none', 'auto']`);
  }
  let userData: string | undefined;
  if (server.user_data !== undefined && server.user_data !== null) {
    if (typeof server.user_data !== 'string' || !isBase64(server.user_data)) throw invalidField('user_data', server.user_data, `${pythonLiteral(server.user_data)} is not a 'base64'`);
    if (server.user_data.length > 65535) throw invalidField('user_data', server.user_data, 'is too long');
    userData = server.user_data;
  }
  let tags: VmTag[] | undefined;
  if (server.tags !== undefined) {
    if (!Array.isArray(server.tags) || server.tags.length > 50) throw invalidField('tags', server.tags, `${pythonLiteral(server.tags)} is not a valid tag list`);
    tags = server.tags.map((tag) => {
      if (typeof tag !== 'string' || tag.length === 0 || tag.length > 60 || /[/,]/.test(tag)) throw invalidField('tags', server.tags, `${pythonLiteral(tag)} is not a valid tag`);
      return { key: tag, value: '' };
    });
  }
  let zone: string | undefined;
  if (server.availability_zone !== undefined) {
    if (typeof server.availability_zone !== 'string') throw invalidField('availability_zone', server.availability_zone, "is not of type 'string'");
    // "zone:host" pins a host in Nova; the simulator honours only the zone.
    zone = server.availability_zone.split(':')[0];
  }
  const minCount = parseCount('min_count', server.min_count) ?? 1;
  const maxCount = parseCount('max_count', server.max_count) ?? minCount;
  if (maxCount < minCount) throw badRequest('min_count must be <= max_count');
  return {
    request: {
      name,
      imageId: lastSegment(server.imageRef),
      flavorId: lastSegment(String(server.flavorRef)),
      zone: zone === '' ? undefined : zone,
      userData,
      metadata: server.metadata === undefined ? undefined : parseMetadata(server.metadata),
      tags,
      networks,
      keyName: typeof server.key_name === 'string' ? server.key_name : null,
      // Before 2.19 a server had no description of its own: Nova sets it to the name.
      description: typeof server.description === 'string' ? server.description : atLeast(version, 2, 19) ? null : name,
    },
    count: maxCount,
    returnReservationId: server.return_reservation_id === true || server.return_reservation_id === 'True' || server.return_reservation_id === 'true',
  };
}
