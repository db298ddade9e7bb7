/**
 * Which network a new server joins. From microversion 2.37 Nova wants `networks` on every create:
 * `auto` (Nova allocates one), `none`, or a list of networks by uuid. The choice is the assembly's
 * `network`, else the cloud registration's; a name or id is looked up in Neutron. With no choice
 * at all, the one network the project can attach to is taken; several are a question only the
 * user can answer, so the launch is refused naming them.
 */
import { z } from 'zod';
import { CloudError } from '../driver/cloud-error.ts';

/** A Neutron network as the driver needs it. */
export interface NeutronNetwork {
  readonly id: string;
  readonly name: string;
  /** A provider's external network (`router:external`): floating IPs come from it, servers are not put on it. */
  readonly external: boolean;
}

export const neutronNetworksSchema = z
  .looseObject({
    networks: z.array(z.looseObject({ id: z.string(), name: z.string().nullish(), 'router:external': z.boolean().nullish() })),
  })
  .transform(({ networks }): NeutronNetwork[] => networks.map((network) => ({ id: network.id, name: network.name ?? '', external: network['router:external'] === true })));

/** Nova's `networks` on create. */
export type NovaNetworks = 'auto' | 'none' | readonly { readonly uuid: string }[];

const uuidPattern = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Whether `text` is a uuid (Neutron and Glance ids; Nova takes them with or without dashes). */
export function isUuid(text: string): boolean {
  return uuidPattern.test(text);
}

/** Whether `choice` is one of Nova's own words rather than a network to look up. */
export function isNovaKeyword(choice: string): choice is 'auto' | 'none' {
  return choice === 'auto' || choice === 'none';
}

const shown = (networks: readonly NeutronNetwork[]): string =>
  networks
    .map((network) => (network.name === '' ? network.id : `${network.name} (${network.id})`))
    .sort()
    .join(', ');

/**
 * The network for a launch that names none, among the networks the project sees: the only one a
 * server can join, else `auto` when there is none (Nova may allocate one), else a refusal naming them.
 */
export function defaultNetwork(cloud: string, operation: string, visible: readonly NeutronNetwork[]): NovaNetworks {
  const candidates = visible.filter((network) => !network.external);
  const [only] = candidates;
  if (candidates.length === 0 || !only) return 'auto';
  if (candidates.length === 1) return [{ uuid: only.id }];
  throw new CloudError('rejected', cloud, operation, `the project sees several networks (${shown(candidates)}): set network on the cloud registration or on the assembly to say which one new VMs join`);
}

/** The network named (or identified by) `wanted`, among the networks that matched it. */
export function namedNetwork(cloud: string, operation: string, wanted: string, matches: readonly NeutronNetwork[]): NovaNetworks {
  const byId = matches.find((network) => network.id === wanted);
  if (byId) return [{ uuid: byId.id }];
  const [only] = matches;
  if (matches.length === 1 && only) return [{ uuid: only.id }];
  if (matches.length === 0) throw new CloudError('not-found', cloud, operation, `no network named ${wanted} is visible to the project`);
  throw new CloudError('rejected', cloud, operation, `several networks are named ${wanted} (${shown(matches)}): name the network by its id`);
}
