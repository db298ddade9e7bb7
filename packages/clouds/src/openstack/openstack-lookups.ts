/**
 * Names to ids for a launch: images through Glance (`GET /v2/images?name=`), flavors through Nova
 * (`GET /flavors`, which has no name filter, so the whole list is read and kept), networks through
 * Neutron (`GET /v2.0/networks`). Ids found are kept for a while ({@link ExpiringCache}); a name
 * not found is always asked again, and a launch that finds a kept id stale forgets it and asks
 * once more. The same calls list what the cloud offers.
 */
import type { Clock } from '@defib/platform';
import { z } from 'zod';
import { CloudError } from '../driver/cloud-error.ts';
import { ExpiringCache } from '../driver/expiring-cache.ts';
import type { OpenstackApi } from './openstack-api.ts';
import { defaultNetwork, isNovaKeyword, isUuid, namedNetwork, neutronNetworksSchema, type NeutronNetwork, type NovaNetworks } from './openstack-networks.ts';
import { readAllPages } from '../driver/paging.ts';
import { glanceNextMarker, novaNextMarker } from './paging.ts';

const imagesSchema = z.looseObject({
  images: z.array(z.looseObject({ id: z.string(), name: z.string().nullish(), status: z.string().nullish() })),
  next: z.string().nullish(),
});
const imageSchema = z.looseObject({ id: z.string(), name: z.string().nullish(), status: z.string().nullish() });
const flavorsSchema = z.looseObject({
  flavors: z.array(z.looseObject({ id: z.string(), name: z.string() })),
  flavors_links: z.unknown().optional(),
});

type Image = z.output<typeof imageSchema>;

/** An id and whether it came from the cache (and so may be stale). */
export interface Resolved {
  readonly id: string;
  readonly cached: boolean;
}

export interface OpenstackLookupsOptions {
  readonly cloud: string;
  readonly api: OpenstackApi;
  readonly clock: Clock;
  readonly pageSize: number;
  /** How long a name's id is trusted. */
  readonly cacheTtlMs: number;
  readonly cacheMaxEntries: number;
}

/** A short list of names for a message: the first few, and how many more. */
export function someNames(names: readonly string[], most = 20): string {
  if (names.length === 0) return 'none';
  const sorted = [...new Set(names)].sort();
  return sorted.length <= most ? sorted.join(', ') : `${sorted.slice(0, most).join(', ')} and ${sorted.length - most} more`;
}

export class OpenstackLookups {
  readonly #options: OpenstackLookupsOptions;
  readonly #ids: ExpiringCache<string>;
  /** Nova's `networks` for each choice (`''`: none made), as looked up in Neutron. */
  readonly #networkChoices: ExpiringCache<NovaNetworks>;
  /** The flavor list under way, shared by concurrent launches (Nova cannot look one flavor up by name). */
  #flavorsLoading: Promise<{ id: string; name: string }[]> | undefined;

  constructor(options: OpenstackLookupsOptions) {
    this.#options = options;
    this.#ids = new ExpiringCache({ clock: options.clock, ttlMs: options.cacheTtlMs, maxEntries: options.cacheMaxEntries });
    this.#networkChoices = new ExpiringCache({ clock: options.clock, ttlMs: options.cacheTtlMs, maxEntries: options.cacheMaxEntries });
  }

  /** Forgets the kept ids of a launch's image, flavor and network (a create said one of them is gone). */
  forget(image: string, flavor: string, network: string | undefined): void {
    this.#ids.delete(`image:${image}`);
    this.#ids.delete(`flavor:${flavor}`);
    this.#networkChoices.delete(network ?? '');
  }

  /** The id of the active image named (or identified by) `name`. */
  async image(name: string, operation: string): Promise<Resolved> {
    const { value, cached } = await this.#ids.load(`image:${name}`, () => this.#lookUpImage(name, operation));
    return { id: value, cached };
  }

  async #lookUpImage(name: string, operation: string): Promise<string> {
    const { images } = await this.#options.api.read(imagesSchema, { service: 'image', operation, path: '/v2/images', query: { name }, idempotent: true });
    const active = images.filter((image) => image.status === undefined || image.status === null || image.status === 'active');
    const [only] = active;
    if (active.length > 1) {
      throw new CloudError('rejected', this.#options.cloud, operation, `several images are named ${name} (${someNames(active.map((image) => image.id))}): name the image by its id`);
    }
    const found = only ?? (isUuid(name) ? await this.#imageById(name, operation) : undefined);
    if (!found) {
      const inactive = images.map((image) => `${image.id} is ${image.status ?? 'unknown'}`);
      throw new CloudError('not-found', this.#options.cloud, operation, inactive.length > 0 ? `image ${name} is not active (${inactive.join(', ')})` : `no image named ${name}`);
    }
    return found.id;
  }

  /** The id of the flavor named (or identified by) `name`. */
  async flavor(name: string, operation: string): Promise<Resolved> {
    const kept = this.#ids.get(`flavor:${name}`);
    if (kept !== undefined) return { id: kept, cached: true };
    this.#flavorsLoading ??= this.#flavors(operation).finally(() => (this.#flavorsLoading = undefined));
    const flavors = await this.#flavorsLoading;
    const found = flavors.find((flavor) => flavor.name === name) ?? flavors.find((flavor) => flavor.id === name);
    if (!found) throw new CloudError('not-found', this.#options.cloud, operation, `no flavor named ${name}; the cloud has: ${someNames(flavors.map((flavor) => flavor.name))}`);
    this.#ids.set(`flavor:${name}`, found.id);
    return { id: found.id, cached: false };
  }

  /**
   * Nova's `networks` for a launch choosing `choice` (the assembly's, else the registration's
   * network), and whether a kept id was used. Without Neutron in the catalogue, `auto`, `none` and
   * ids pass as they are, a name cannot be looked up, and no choice means `auto`.
   */
  async networks(choice: string | undefined, operation: string): Promise<{ readonly networks: NovaNetworks; readonly cached: boolean }> {
    if (choice !== undefined && isNovaKeyword(choice)) return { networks: choice, cached: false };
    const { value, cached } = await this.#networkChoices.load(choice ?? '', () => this.#lookUpNetworks(choice, operation));
    return { networks: value, cached };
  }

  async #lookUpNetworks(choice: string | undefined, operation: string): Promise<NovaNetworks> {
    const { cloud, api } = this.#options;
    if (!(await api.has('network', operation))) {
      if (choice === undefined) return 'auto';
      if (isUuid(choice)) return [{ uuid: choice }];
      throw new CloudError('rejected', cloud, operation, `network ${choice} cannot be looked up: the service catalogue has no network service; name it by its id, or use auto or none`);
    }
    if (choice === undefined) return defaultNetwork(cloud, operation, await this.#networks(operation, {}));
    const matches = [...(await this.#networks(operation, { name: choice })), ...(isUuid(choice) ? await this.#networks(operation, { id: choice }) : [])];
    return namedNetwork(cloud, operation, choice, matches);
  }

  /** The names of the active images. */
  async imageNames(operation: string): Promise<string[]> {
    const images = await readAllPages<Image>(this.#options.cloud, operation, async (marker) => {
      const page = await this.#options.api.read(imagesSchema, { service: 'image', operation, path: '/v2/images', query: { limit: String(this.#options.pageSize), marker }, idempotent: true });
      return { items: page.images, next: glanceNextMarker(page.next) };
    });
    return images.filter((image) => (image.status ?? 'active') === 'active').flatMap((image) => (image.name ? [image.name] : []));
  }

  async flavorNames(operation: string): Promise<string[]> {
    return (await this.#flavors(operation)).map((flavor) => flavor.name);
  }

  /** The names (or ids, for unnamed ones) of the networks the project sees; none without Neutron. */
  async networkNames(operation: string): Promise<string[]> {
    if (!(await this.#options.api.has('network', operation))) return [];
    return (await this.#networks(operation, {})).map((network) => (network.name === '' ? network.id : network.name));
  }

  async #imageById(id: string, operation: string): Promise<Image | undefined> {
    try {
      const image = await this.#options.api.read(imageSchema, { service: 'image', operation, path: `/v2/images/${encodeURIComponent(id)}`, idempotent: true });
      return image.status === 'active' || image.status === undefined || image.status === null ? image : undefined;
    } catch (error) {
      if (error instanceof CloudError && error.kind === 'not-found') return undefined;
      throw error;
    }
  }

  async #flavors(operation: string): Promise<{ id: string; name: string }[]> {
    const flavors = await readAllPages(this.#options.cloud, operation, async (marker) => {
      const page = await this.#options.api.read(flavorsSchema, { service: 'compute', operation, path: '/flavors', query: { limit: String(this.#options.pageSize), marker }, idempotent: true });
      return { items: page.flavors, next: novaNextMarker(page.flavors_links) };
    });
    for (const flavor of flavors) this.#ids.set(`flavor:${flavor.name}`, flavor.id);
    return flavors;
  }

  #networks(operation: string, query: { name?: string; id?: string }): Promise<NeutronNetwork[]> {
    return this.#options.api.read(neutronNetworksSchema, { service: 'network', operation, path: '/v2.0/networks', query, idempotent: true });
  }
}
