/**
 * The OpenStack {@link CloudDriver}: Keystone v3 for tokens and the catalogue, Nova v2.1 (at
 * microversion {@link novaMicroversion}) for servers, Glance for image names and Neutron for
 * network names. Every request is one `caller.call` (limiter, timeout, retries, budget).
 *
 * Nova's create is not idempotent, so the driver makes launches so itself: every server it creates
 * carries the launch's action id in its metadata (`defib-action`) and the `defib` tag; before
 * creating, and again before creating after an attempt whose outcome is unknown (a timeout, a
 * reset, a 500), it looks for a server of that action and returns it if there is one.
 */
import { RealClock, type Clock, type Logger } from '@defib/platform';
import type { OpenstackRegistration } from '@defib/contracts';
import { z } from 'zod';
import type { CloudCaller } from '../driver/cloud-call.ts';
import { actionMetadataKey, managedMetadataKey, type CloudDriver, type CloudInstance, type LaunchRequest, type ListOptions } from '../driver/cloud-driver.ts';
import { CloudError } from '../driver/cloud-error.ts';
import { KeystoneSession } from './keystone-session.ts';
import { OpenstackApi, type Query } from './openstack-api.ts';
import { OpenstackLookups } from './openstack-lookups.ts';
import type { NovaNetworks } from './openstack-networks.ts';
import { instanceFromServer, novaServerSchema } from './openstack-views.ts';
import { readAllPages } from '../driver/paging.ts';
import { novaNextMarker } from './paging.ts';

/** The tag on every server Defib creates: `list` asks Nova for `tags=defib` only. */
export const defibServerTag = 'defib';

/** Nova's limit on `user_data`, base64-encoded. */
const longestUserData = 65_535;

/** How many creates one launch may try when attempts end with an unknown outcome (each after a lookup). */
const createRounds = 3;

/** How often a launch looks for its server while a create of unknown outcome settles. */
const settleLookEveryMs = 5_000;

const serverDocumentSchema = z.looseObject({ server: novaServerSchema });
const serversPageSchema = z.looseObject({ servers: z.array(novaServerSchema), servers_links: z.unknown().optional() });
const createdSchema = z.looseObject({ server: z.looseObject({ id: z.string().min(1) }) });

export interface OpenstackDriverOptions {
  /** The registered cloud's name, in every error message. */
  readonly cloud: string;
  readonly registration: OpenstackRegistration;
  /** Makes every request: through the cloud's limiter, with timeouts and retries. */
  readonly caller: CloudCaller;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly fetch?: typeof fetch;
  /** Servers, flavors and images per page when listing; 1000 (Nova's default `osapi_max_limit`) by default. */
  readonly pageSize?: number;
  /** How long image, flavor and network ids found by name are trusted; 10 minutes by default. */
  readonly lookupTtlMs?: number;
  /**
   * After a create whose outcome is unknown, how long the launch keeps looking for its server
   * before it creates again: a request abandoned by the client may still be under way in Nova
   * (which checks image, flavor and network with Glance and Neutron before the server exists).
   * 30 s by default, looking every 5 s.
   */
  readonly settleMs?: number;
}

/** Nova filters `name` as a regular expression: an exact name is anchored and escaped. */
function exactNamePattern(name: string): string {
  return `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

/** What a launch creates with: ids found for the request's names, and whether any was a kept one. */
interface LaunchPlan {
  readonly image: string;
  readonly flavor: string;
  readonly networks: NovaNetworks;
  /** Some id came from the lookup cache, so a refusal naming it may mean it went stale. */
  readonly cached: boolean;
}

/** The metadata of a launch's server: the request's, with Defib's own keys (which the request cannot override). */
function launchMetadata(request: LaunchRequest): Record<string, string> {
  return { ...request.metadata, [actionMetadataKey]: request.actionId, [managedMetadataKey]: 'true' };
}

/** Whether a refused create blames the image, flavor or network (so a kept id may be stale). */
function blamesLookedUpId(error: unknown): boolean {
  return error instanceof CloudError && (error.status === 400 || error.status === 404) && /image|flavor|network/i.test(error.detail);
}

export function createOpenstackDriver(options: OpenstackDriverOptions): CloudDriver {
  const { cloud, registration, caller } = options;
  const clock = options.clock ?? new RealClock();
  const fetchFn = options.fetch ?? globalThis.fetch;
  const logger = options.logger?.child({ component: 'openstack-driver', cloud });
  const pageSize = options.pageSize ?? 1_000;
  const session = new KeystoneSession({ cloud, registration, caller, clock, fetch: fetchFn });
  const api = new OpenstackApi({ cloud, session, caller, clock, fetch: fetchFn });
  const lookups = new OpenstackLookups({ cloud, api, clock, pageSize, cacheTtlMs: options.lookupTtlMs ?? 600_000, cacheMaxEntries: 1_000 });

  const listServers = (operation: string, query: Query) =>
    readAllPages(cloud, operation, async (marker) => {
      const page = await api.read(serversPageSchema, { service: 'compute', operation, path: '/servers/detail', query: { ...query, limit: String(pageSize), marker }, idempotent: true });
      return { items: page.servers, next: novaNextMarker(page.servers_links) };
    });

  const serverAction = async (operation: string, instanceId: string, action: object): Promise<void> => {
    await api.send({ service: 'compute', operation, method: 'POST', path: `/servers/${encodeURIComponent(instanceId)}/action`, body: action, idempotent: true });
  };

  const describe = async (instanceId: string, operation = 'describe'): Promise<CloudInstance> => {
    const { server } = await api.read(serverDocumentSchema, { service: 'compute', operation, path: `/servers/${encodeURIComponent(instanceId)}`, idempotent: true });
    return instanceFromServer(server);
  };

  /** The server an earlier attempt of this launch created, if any. */
  const launched = async (request: LaunchRequest): Promise<CloudInstance | undefined> => {
    const servers = await listServers('launch', { tags: defibServerTag, name: exactNamePattern(request.name) });
    return servers.map(instanceFromServer).find((instance) => instance.actionId === request.actionId && instance.state !== 'terminated');
  };

  const pause = (ms: number) => new Promise<void>((resolve) => clock.schedule(ms, resolve));

  /** The server of a create whose outcome is unknown, looked for until it shows or the settle time is over. */
  const settled = async (request: LaunchRequest): Promise<CloudInstance | undefined> => {
    const settleMs = options.settleMs ?? 30_000;
    const until = clock.now() + settleMs;
    for (;;) {
      const found = await launched(request);
      const left = until - clock.now();
      if (found || left <= 0) return found;
      await pause(Math.min(settleLookEveryMs, left));
    }
  };

  const resolveLaunch = async (request: LaunchRequest): Promise<LaunchPlan> => {
    const image = await lookups.image(request.image, 'launch');
    const flavor = await lookups.flavor(request.flavor, 'launch');
    const network = await lookups.networks(request.network ?? registration.network, 'launch');
    return { image: image.id, flavor: flavor.id, networks: network.networks, cached: image.cached || flavor.cached || network.cached };
  };

  const create = async (request: LaunchRequest, plan: LaunchPlan): Promise<string> => {
    const server = {
      name: request.name,
      imageRef: plan.image,
      flavorRef: plan.flavor,
      networks: plan.networks,
      metadata: launchMetadata(request),
      tags: [defibServerTag],
      ...(request.userData === undefined ? {} : { user_data: Buffer.from(request.userData, 'utf8').toString('base64') }),
      ...(request.zone === undefined ? {} : { availability_zone: request.zone }),
    };
    const created = await api.read(createdSchema, { service: 'compute', operation: 'launch', method: 'POST', path: '/servers', body: { server }, idempotent: false, effectUnknownOnServerError: true });
    return created.server.id;
  };

  /** The server just created as Nova first shows it (as BUILD, from the request, if Nova does not show it yet). */
  const firstView = async (id: string, request: LaunchRequest): Promise<CloudInstance> => {
    try {
      return await describe(id, 'launch');
    } catch (error) {
      if (!(error instanceof CloudError) || error.kind !== 'not-found') throw error;
      return { id, name: request.name, state: 'pending', cloudStatus: 'BUILD', addresses: [], metadata: launchMetadata(request), actionId: request.actionId };
    }
  };

  return {
    cloud,
    provider: 'openstack',

    async checkAccess() {
      await api.send({ service: 'compute', operation: 'check-access', path: '/flavors', query: { limit: '1' }, idempotent: true });
    },

    async offerings() {
      const [images, flavors, networks] = await Promise.all([lookups.imageNames('offerings'), lookups.flavorNames('offerings'), lookups.networkNames('offerings')]);
      return { images, flavors, networks };
    },

    async launch(request) {
      if (request.userData !== undefined && Buffer.byteLength(Buffer.from(request.userData, 'utf8').toString('base64')) > longestUserData) {
        throw new CloudError('rejected', cloud, 'launch', `user data is too long: Nova takes at most ${longestUserData} bytes once base64-encoded`);
      }
      let plan = await resolveLaunch(request);
      let refreshed = false;
      let outcomeUnknown = false;
      for (let round = 1; ; round++) {
        const existing = await (outcomeUnknown ? settled(request) : launched(request));
        if (existing) return existing;
        try {
          return await firstView(await create(request, plan), request);
        } catch (error) {
          if (!refreshed && plan.cached && blamesLookedUpId(error)) {
            // A kept id went stale (the image was replaced, the flavor or network recreated): look the names up again, once.
            refreshed = true;
            lookups.forget(request.image, request.flavor, request.network ?? registration.network);
            plan = await resolveLaunch(request);
            continue;
          }
          if (!(error instanceof CloudError) || !error.outcomeUnknown || round >= createRounds) throw error;
          outcomeUnknown = true;
          logger?.warn({ actionId: request.actionId, round, detail: error.detail }, 'create may have taken effect; looking for its server before trying again');
        }
      }
    },

    describe: (instanceId) => describe(instanceId),

    async list(listOptions?: ListOptions) {
      const since = listOptions?.changesSince;
      if (since === undefined) return (await listServers('list', { tags: defibServerTag })).map(instanceFromServer);
      // Nova drops a server's tags and metadata once it is deleted (Zed shows `tags: []` and
      // `metadata: {}` for DELETED servers, and `tags=defib` leaves them out), so a list of changes
      // cannot filter by tag and still show deletions: Defib's servers are picked here, and deleted
      // ones are all kept (callers know their servers by id).
      const servers = (await listServers('list', { 'changes-since': since })).map(instanceFromServer);
      return servers.filter((instance) => instance.state === 'terminated' || instance.metadata[managedMetadataKey] === 'true' || instance.actionId !== undefined);
    },

    reboot: (instanceId, { hard }) => serverAction('reboot', instanceId, { reboot: { type: hard ? 'HARD' : 'SOFT' } }),
    start: (instanceId) => serverAction('start', instanceId, { 'os-start': null }),
    stop: (instanceId) => serverAction('stop', instanceId, { 'os-stop': null }),

    async terminate(instanceId) {
      await api.send({ service: 'compute', operation: 'terminate', method: 'DELETE', path: `/servers/${encodeURIComponent(instanceId)}`, idempotent: true, accept: [404] });
    },

    // fetch's connections belong to the process's pool; nothing of the driver's own to release.
    close() {},
  };
}
