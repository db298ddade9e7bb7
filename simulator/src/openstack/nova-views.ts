/** The JSON documents Nova returns, rendered from the cloud model at a given microversion. */
import type { Cloud, Image, Network } from '../cloud/cloud.ts';
import type { FlavorConfig } from '../cloud/cloud-config.ts';
import type { Vm } from '../cloud/vm.ts';
import { novaState } from '../cloud/nova-state.ts';
import type { NovaState } from '../cloud/nova-state.ts';
import { isoSeconds } from './endpoints.ts';
import type { Token } from './identity.ts';
import { atLeast, formatMicroversion, maxMicroversion, minMicroversion } from './microversion.ts';
import type { Microversion } from './microversion.ts';

/** What a view needs to know about the request it answers. */
export interface NovaViewContext {
  /** `http://host[/regions/R]/compute` — links are built from it. */
  computeRoot: string;
  imageRoot: string;
  version: Microversion;
  token: Token;
  cloud: Cloud;
}

const isAdmin = (context: NovaViewContext): boolean => context.token.roles.some((role) => role.name === 'admin');

/** Nova's `OS-SRV-USG` timestamps: microseconds, no zone designator. */
const usageTime = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000'));

function links(context: NovaViewContext, collection: string, id: string): object[] {
  return [
    { rel: 'self', href: `${context.computeRoot}/v2.1/${collection}/${id}` },
    { rel: 'bookmark', href: `${context.computeRoot}/${collection}/${id}` },
  ];
}

/** The version document of the v2.1 API (`GET /compute/v2.1`). */
export function computeVersion(computeRoot: string): object {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: formatMicroversion(maxMicroversion),
    min_version: formatMicroversion(minMicroversion),
    updated: '2013-07-23T11:33:21Z',
    links: [
      { rel: 'self', href: `${computeRoot}/v2.1/` },
      { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
    ],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  };
}

/**
 * The root's version list (`GET /compute/`): the v2.0 compatibility API beside v2.1, each with a
 * self link only.
 */
export function computeVersions(computeRoot: string): object {
  const { links: _links, 'media-types': _mediaTypes, ...current } = computeVersion(computeRoot) as Record<string, unknown>;
  return {
    versions: [
      { id: 'v2.0', status: 'SUPPORTED', version: '', min_version: '', updated: '2011-01-21T11:33:21Z', links: [{ rel: 'self', href: `${computeRoot}/v2/` }] },
      { ...current, links: [{ rel: 'self', href: `${computeRoot}/v2.1/` }] },
    ],
  };
}

/** `servers` list entry: id, name and links only. */
export function serverSummary(vm: Readonly<Vm>, context: NovaViewContext): object {
  return { id: vm.id, links: links(context, 'servers', vm.id), name: vm.name };
}

function addresses(vm: Readonly<Vm>): Record<string, object[]> {
  const byNetwork: Record<string, object[]> = {};
  for (const address of vm.addresses) {
    (byNetwork[address.network] ??= []).push({ version: 4, addr: address.address, 'OS-EXT-IPS:type': address.kind, 'OS-EXT-IPS-MAC:mac_addr': address.mac });
  }
  return byNetwork;
}

function flavorReference(vm: Readonly<Vm>, context: NovaViewContext): object {
  const flavor = context.cloud.findFlavor(vm.flavorId);
  if (atLeast(context.version, 2, 47)) {
    return { vcpus: flavor?.vcpus ?? 0, ram: flavor?.ramMb ?? 0, disk: flavor?.diskGb ?? 0, ephemeral: 0, swap: 0, original_name: flavor?.name ?? vm.flavorId, extra_specs: {} };
  }
  return { id: vm.flavorId, links: [{ rel: 'bookmark', href: `${context.computeRoot}/flavors/${vm.flavorId}` }] };
}

/** The share of a build that Nova spends scheduling, before the server has a host or a port. */
const schedulingShare = 0.1;

/**
 * Whether Nova would still be scheduling the server: early in its build it has no host, no zone and
 * no addresses yet, and its task is `scheduling` (as Zed shows a server just created).
 */
function isScheduling(vm: Readonly<Vm>, cloud: Cloud): boolean {
  if (vm.state.phase !== 'building' || vm.state.task !== null) return false;
  return cloud.now() - vm.createdAt < (cloud.timings.build * schedulingShare) / cloud.speedFactor;
}

/** The full server document (`servers/detail`, `servers/{id}`). */
export function serverDetail(vm: Readonly<Vm>, context: NovaViewContext): Record<string, unknown> {
  const placed = !isScheduling(vm, context.cloud);
  const state: NovaState = placed ? novaState(vm.state) : { ...novaState(vm.state), taskState: 'scheduling' };
  const project = context.token.project;
  const version = context.version;
  const document: Record<string, unknown> = {
    id: vm.id,
    name: vm.name,
    status: state.status,
    tenant_id: project?.id ?? '',
    user_id: context.token.user.id,
    metadata: vm.metadata,
    hostId: project && placed ? context.cloud.hostIdOf(vm, project.id) : '',
    image: { id: vm.imageId, links: [{ rel: 'bookmark', href: `${context.imageRoot}/images/${vm.imageId}` }] },
    flavor: flavorReference(vm, context),
    created: isoSeconds(vm.createdAt),
    updated: isoSeconds(vm.updatedAt),
    addresses: placed ? addresses(vm) : {},
    accessIPv4: '',
    accessIPv6: '',
    links: links(context, 'servers', vm.id),
    'OS-DCF:diskConfig': 'MANUAL',
    'OS-EXT-AZ:availability_zone': placed ? vm.zone : '',
    config_drive: '',
    key_name: vm.keyName,
    'OS-SRV-USG:launched_at': usageTime(vm.launchedAt),
    'OS-SRV-USG:terminated_at': usageTime(vm.deletedAt),
    'OS-EXT-STS:task_state': state.taskState,
    'OS-EXT-STS:vm_state': state.vmState,
    'OS-EXT-STS:power_state': state.powerState,
    'os-extended-volumes:volumes_attached': [],
  };
  // Nova reads security groups off the server's ports: a server without one has none to show.
  if (placed && vm.addresses.length > 0) document.security_groups = [{ name: 'default' }];
  if (state.status === 'BUILD' || state.status === 'ACTIVE') document.progress = state.status === 'ACTIVE' ? 100 : 0;
  if (vm.fault && state.vmState === 'error') document.fault = { code: vm.fault.code, created: isoSeconds(vm.fault.at), message: vm.fault.message };
  if (isAdmin(context)) {
    document['OS-EXT-SRV-ATTR:host'] = placed ? vm.host : null;
    document['OS-EXT-SRV-ATTR:hypervisor_hostname'] = placed ? vm.host : null;
    document['OS-EXT-SRV-ATTR:instance_name'] = placed ? `instance-${vm.sequence.toString(16).padStart(8, '0')}` : '';
    if (atLeast(version, 2, 3)) {
      document['OS-EXT-SRV-ATTR:hostname'] = vm.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
      document['OS-EXT-SRV-ATTR:reservation_id'] = vm.reservationId;
      document['OS-EXT-SRV-ATTR:launch_index'] = vm.launchIndex;
      document['OS-EXT-SRV-ATTR:kernel_id'] = '';
      document['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
      document['OS-EXT-SRV-ATTR:root_device_name'] = '/dev/vda';
      document['OS-EXT-SRV-ATTR:user_data'] = vm.userData;
    }
    if (atLeast(version, 2, 16)) document.host_status = 'UP';
  }
  if (atLeast(version, 2, 9)) document.locked = false;
  if (atLeast(version, 2, 19)) document.description = vm.description;
  if (atLeast(version, 2, 26)) document.tags = vm.tags.map((tag) => tag.key);
  if (atLeast(version, 2, 63)) document.trusted_image_certificates = null;
  if (atLeast(version, 2, 71)) document.server_groups = [];
  if (atLeast(version, 2, 73)) document.locked_reason = null;
  return document;
}

/** `flavors` list entry. */
export function flavorSummary(flavor: FlavorConfig, context: NovaViewContext): object {
  return { id: flavor.id, links: links(context, 'flavors', flavor.id), name: flavor.name, ...(atLeast(context.version, 2, 55) ? { description: null } : {}) };
}

/** Full flavor document. */
export function flavorDetail(flavor: FlavorConfig, context: NovaViewContext): object {
  return {
    ...flavorSummary(flavor, context),
    ram: flavor.ramMb,
    disk: flavor.diskGb,
    vcpus: flavor.vcpus,
    swap: atLeast(context.version, 2, 75) ? 0 : '',
    'OS-FLV-EXT-DATA:ephemeral': 0,
    'OS-FLV-DISABLED:disabled': false,
    'os-flavor-access:is_public': true,
    rxtx_factor: 1.0,
    ...(atLeast(context.version, 2, 61) ? { extra_specs: {} } : {}),
  };
}

/** An image as the deprecated image proxy (`/v2.1/images`, before 2.36) shows it, with its Glance link. */
export function proxiedImage(image: Image, context: NovaViewContext, glanceRoot: string): object {
  return {
    id: image.id,
    name: image.name,
    links: [...links(context, 'images', image.id), { rel: 'alternate', type: 'application/vnd.openstack.image', href: `${glanceRoot}/images/${image.id}` }],
  };
}

/**
 * A network as the deprecated os-networks proxy (before 2.36) shows a Neutron network: its id and
 * label; every nova-network field is null.
 */
export function proxiedNetwork(network: Network): object {
  const novaNetworkFields = [
    'cidr', 'netmask', 'gateway', 'broadcast', 'dns1', 'dns2', 'cidr_v6', 'gateway_v6', 'label', 'netmask_v6', 'created_at', 'updated_at', 'deleted_at', 'deleted', 'injected', 'bridge', 'vlan',
    'vpn_public_address', 'vpn_public_port', 'vpn_private_address', 'dhcp_start', 'project_id', 'host', 'bridge_interface', 'multi_host', 'priority', 'rxtx_base', 'mtu', 'dhcp_server', 'enable_dhcp', 'share_address',
  ];
  return { id: network.id, ...Object.fromEntries(novaNetworkFields.map((field) => [field, field === 'label' ? network.name : null])) };
}
