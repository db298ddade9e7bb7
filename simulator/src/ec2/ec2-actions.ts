/**
 * The EC2 actions the simulator serves: each reads its Query parameters, works on the cloud model
 * and returns the body of its `<{Action}Response>`.
 */
import type { Cloud, Image } from '../cloud/cloud.ts';
import { CloudError } from '../cloud/cloud-error.ts';
import { ec2State } from '../cloud/ec2-state.ts';
import type { Operation } from '../cloud/lifecycle.ts';
import type { Vm, VmTag } from '../cloud/vm.ts';
import type { ClientTokens } from './ec2-client-tokens.ts';
import { launchFingerprint } from './ec2-client-tokens.ts';
import { Ec2Error, instancesNotFound, invalidParameterValue, missingParameter } from './ec2-errors.ts';
import { matchesFilterValue, pageOf, requireInstanceIds } from './ec2-params.ts';
import type { Ec2Filter, Ec2Params } from './ec2-params.ts';
import { addressXml, instanceStatusXml, instanceXml, ownerId, reservationsXml, stateChangeXml, statusChecks } from './ec2-views.ts';
import type { GuestProbe } from './ec2-views.ts';
import type { XmlValue } from './ec2-xml.ts';

/** What actions need beside the cloud model: the region's client tokens and a look at the guests. */
export interface Ec2Context {
  readonly clientTokens: ClientTokens;
  readonly guests: GuestProbe;
  /** Every region the endpoint serves (DescribeRegions). */
  readonly regions: readonly string[];
}

/** One action: parameters and cloud in, response body out. */
export type Ec2Action = (params: Ec2Params, cloud: Cloud, context: Ec2Context) => Record<string, XmlValue>;

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The instances named by `InstanceId.N`, all of which must exist (purged ones do not). */
function namedInstances(params: Ec2Params, cloud: Cloud, required: boolean): Readonly<Vm>[] | undefined {
  const ids = requireInstanceIds(params.list('InstanceId'));
  if (ids.length === 0) {
    if (required) throw missingParameter('InstanceId');
    return undefined;
  }
  const missing = ids.filter((id) => !cloud.get(id));
  if (missing.length > 0) throw instancesNotFound(missing);
  return ids.map((id) => cloud.require(id));
}

/** Tags of `TagSpecification.N` whose ResourceType is `instance`. */
function instanceTags(params: Ec2Params): VmTag[] {
  return params.structures('TagSpecification').flatMap((spec) => {
    const resourceType = spec.get('ResourceType');
    if (resourceType === undefined) throw missingParameter('TagSpecification.ResourceType');
    return resourceType === 'instance' ? tagList(spec) : [];
  });
}

function tagList(params: Ec2Params): VmTag[] {
  return params.structures('Tag').map((tag) => {
    const key = tag.get('Key');
    if (key === undefined || key === '') throw invalidParameterValue('Tag key must not be empty.');
    if (key.toLowerCase().startsWith('aws:')) throw invalidParameterValue("Tag keys starting with 'aws:' are reserved for internal use");
    return { key, value: tag.get('Value') ?? '' };
  });
}

function instanceFilterValue(vm: Readonly<Vm>, name: string): string[] | undefined {
  if (name.startsWith('tag:')) {
    const key = name.slice(4);
    return vm.tags.filter((tag) => tag.key === key).map((tag) => tag.value);
  }
  const state = ec2State(vm.state);
  switch (name) {
    case 'instance-state-name':
      return [state.name];
    case 'instance-state-code':
      return [String(state.code)];
    case 'instance-id':
      return [vm.id];
    case 'availability-zone':
      return [vm.zone];
    case 'instance-type':
      return [vm.flavorId];
    case 'image-id':
      return [vm.imageId];
    case 'reservation-id':
      return [vm.reservationId];
    case 'tag-key':
      return vm.tags.map((tag) => tag.key);
    case 'tag-value':
      return vm.tags.map((tag) => tag.value);
    case 'private-ip-address':
      return vm.addresses.filter((address) => address.kind === 'fixed').map((address) => address.address);
    case 'ip-address':
      return vm.addresses.filter((address) => address.kind === 'floating').map((address) => address.address);
    case 'key-name':
      return vm.keyName === null ? [] : [vm.keyName];
    default:
      return undefined;
  }
}

/** Applies filters (every filter must match one of its values); unknown filter names are refused. */
function filterInstances(vms: readonly Readonly<Vm>[], filters: readonly Ec2Filter[], known: ReadonlySet<string>, valueOf: (vm: Readonly<Vm>, name: string) => string[] | undefined): Readonly<Vm>[] {
  for (const filter of filters) {
    if (!known.has(filter.name) && !(known.has('tag:') && filter.name.startsWith('tag:'))) throw invalidParameterValue(`The filter '${filter.name}' is invalid`);
  }
  return vms.filter((vm) => filters.every((filter) => (valueOf(vm, filter.name) ?? []).some((actual) => matchesFilterValue(actual, filter.values))));
}

const instanceFilters: ReadonlySet<string> = new Set(['tag:', 'instance-state-name', 'instance-state-code', 'instance-id', 'availability-zone', 'instance-type', 'image-id', 'reservation-id', 'tag-key', 'tag-value', 'private-ip-address', 'ip-address', 'key-name']);
const statusFilters: ReadonlySet<string> = new Set(['instance-state-name', 'instance-state-code', 'availability-zone', 'system-status.status', 'instance-status.status']);

function changeState(operation: Operation, responseList: string): Ec2Action {
  return (params, cloud) => {
    const vms = namedInstances(params, cloud, true) ?? [];
    const outcomes = cloud.requestAll(
      vms.map((vm) => vm.id),
      operation,
    );
    return { [responseList]: outcomes.map((outcome) => stateChangeXml(outcome.vm, outcome.previous)) };
  };
}

const runInstances: Ec2Action = (params, cloud, { clientTokens }) => {
  const imageId = params.required('ImageId');
  if (!/^ami-[0-9a-f]+$/.test(imageId)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
  const minCount = params.int('MinCount');
  const maxCount = params.int('MaxCount');
  if (minCount === undefined) throw missingParameter('MinCount');
  if (maxCount === undefined) throw missingParameter('MaxCount');
  if (minCount < 1) throw invalidParameterValue(`Value (${minCount}) for parameter minCount is invalid. Expected a positive integer.`);
  if (maxCount < minCount) throw invalidParameterValue(`Value (${maxCount}) for parameter maxCount is invalid. Expected at least minCount (${minCount}).`);
  const userData = params.get('UserData');
  if (userData !== undefined && (userData.length % 4 !== 0 || !base64.test(userData))) throw invalidParameterValue('Invalid BASE64 encoding of user data.');
  const token = params.get('ClientToken') ?? '';
  const fingerprint = launchFingerprint(params);
  const repeated = token === '' ? undefined : clientTokens.repeated(token, fingerprint);
  const subnetId = params.get('SubnetId');
  const launched =
    repeated?.vms ??
    cloud.create(
      {
        name: '',
        imageId,
        flavorId: params.get('InstanceType') ?? 'm1.small',
        zone: params.get('Placement.AvailabilityZone'),
        userData,
        tags: instanceTags(params),
        networks: subnetId === undefined ? undefined : [subnetId],
        keyName: params.get('KeyName'),
      },
      maxCount,
    );
  if (!repeated && token !== '') clientTokens.remember(token, fingerprint, launched);
  const first = launched[0];
  return { reservationId: first?.reservationId, ownerId, groupSet: [], instancesSet: launched.map((vm) => instanceXml(vm, cloud, token)) };
};

const describeInstances: Ec2Action = (params, cloud, { clientTokens }) => {
  const named = namedInstances(params, cloud, false);
  if (named && params.get('MaxResults') !== undefined) throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  const vms = filterInstances(named ?? cloud.list(), params.filters(), instanceFilters, instanceFilterValue);
  const { page, nextToken } = pageOf(vms, params, 5);
  return { reservationSet: reservationsXml(page, cloud, (vm) => clientTokens.tokenOf(vm)), nextToken };
};

const describeInstanceStatus: Ec2Action = (params, cloud, { guests }) => {
  const named = namedInstances(params, cloud, false);
  if (named && params.get('MaxResults') !== undefined) throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  const includeAll = params.bool('IncludeAllInstances');
  const candidates = (named ?? cloud.list()).filter((vm) => includeAll || ec2State(vm.state).name === 'running');
  const vms = filterInstances(candidates, params.filters(), statusFilters, (vm, name) => {
    if (name === 'system-status.status') return [statusChecks(vm, cloud, guests).system.status];
    if (name === 'instance-status.status') return [statusChecks(vm, cloud, guests).instance.status];
    return instanceFilterValue(vm, name);
  });
  const { page, nextToken } = pageOf(vms, params, 5);
  return { instanceStatusSet: page.map((vm) => instanceStatusXml(vm, cloud, guests)), nextToken };
};

const createTags: Ec2Action = (params, cloud) => {
  const ids = params.list('ResourceId');
  if (ids.length === 0) throw missingParameter('ResourceId');
  const tags = tagList(params);
  for (const id of ids) {
    if (!id.startsWith('i-')) throw new Ec2Error('InvalidID', `The ID '${id}' is not valid`);
    requireInstanceIds([id]);
    cloud.require(id);
  }
  for (const id of ids) cloud.setTags(id, tags);
  return { return: true };
};

const deleteTags: Ec2Action = (params, cloud) => {
  const ids = params.list('ResourceId');
  if (ids.length === 0) throw missingParameter('ResourceId');
  const tags = params.structures('Tag').map((tag) => ({ key: tag.required('Key'), value: tag.get('Value') }));
  for (const id of requireInstanceIds(ids)) cloud.require(id);
  for (const id of ids) cloud.removeTags(id, tags);
  return { return: true };
};

const allocateAddress: Ec2Action = (params, cloud) => {
  const domain = params.get('Domain');
  if (domain !== undefined && domain !== 'vpc' && domain !== 'standard') throw invalidParameterValue(`Invalid value '${domain}' for domain.`);
  let address;
  try {
    address = cloud.allocateFloating();
  } catch (error) {
    if (error instanceof CloudError && error.detail.code === 'addresses-exhausted') throw new Ec2Error('AddressLimitExceeded', 'The maximum number of addresses has been reached.');
    throw error;
  }
  return { publicIp: address.address, domain: 'vpc', allocationId: address.id, publicIpv4Pool: 'amazon', networkBorderGroup: cloud.region };
};

const associateAddress: Ec2Action = (params, cloud) => {
  const reference = params.get('AllocationId') ?? params.get('PublicIp');
  if (reference === undefined) throw missingParameter('AllocationId');
  const instanceId = params.get('InstanceId');
  if (instanceId === undefined) throw missingParameter('InstanceId');
  requireInstanceIds([instanceId]);
  const address = cloud.findFloating(reference);
  if (!address) {
    throw reference.startsWith('eipalloc-') ? new Ec2Error('InvalidAllocationID.NotFound', `The allocation ID '${reference}' does not exist`) : new Ec2Error('InvalidAddress.NotFound', `Address '${reference}' not found.`);
  }
  if (address.vmId !== null && address.vmId !== instanceId && params.get('AllowReassociation') !== 'true') {
    throw new Ec2Error('Resource.AlreadyAssociated', `resource ${address.id} is already associated with associate-id ${address.associationId ?? ''}`);
  }
  const associated = cloud.associateFloating(address.id, instanceId, { allowReassociation: true });
  return { return: true, associationId: associated.associationId ?? undefined };
};

const disassociateAddress: Ec2Action = (params, cloud) => {
  const associationId = params.get('AssociationId');
  const publicIp = params.get('PublicIp');
  if (associationId === undefined && publicIp === undefined) throw missingParameter('AssociationId');
  const address = associationId !== undefined ? cloud.floatingAddresses().find((candidate) => candidate.associationId === associationId) : cloud.findFloating(publicIp ?? '');
  if (!address) {
    throw associationId !== undefined ? new Ec2Error('InvalidAssociationID.NotFound', `The association ID '${associationId}' does not exist`) : new Ec2Error('InvalidAddress.NotFound', `Address '${publicIp ?? ''}' not found.`);
  }
  cloud.disassociateFloating(address.id);
  return { return: true };
};

const releaseAddress: Ec2Action = (params, cloud) => {
  const reference = params.get('AllocationId') ?? params.get('PublicIp');
  if (reference === undefined) throw missingParameter('AllocationId');
  cloud.releaseFloating(reference);
  return { return: true };
};

const describeAddresses: Ec2Action = (params, cloud) => {
  const allocationIds = params.list('AllocationId');
  const publicIps = params.list('PublicIp');
  for (const id of allocationIds) if (!cloud.findFloating(id)) throw new Ec2Error('InvalidAllocationID.NotFound', `The allocation ID '${id}' does not exist`);
  for (const ip of publicIps) if (!cloud.findFloating(ip)) throw new Ec2Error('InvalidAddress.NotFound', `Address '${ip}' not found.`);
  const filters = params.filters();
  const valueOf = (address: ReturnType<Cloud['floatingAddresses']>[number], name: string): string[] | undefined => {
    switch (name) {
      case 'allocation-id':
        return [address.id];
      case 'association-id':
        return address.associationId ? [address.associationId] : [];
      case 'instance-id':
        return address.vmId ? [address.vmId] : [];
      case 'public-ip':
        return [address.address];
      case 'domain':
        return ['vpc'];
      default:
        return undefined;
    }
  };
  const probe = { id: '', address: '', network: '', vmId: null, associationId: null, allocatedAt: 0 };
  for (const filter of filters) if (valueOf(probe, filter.name) === undefined) throw invalidParameterValue(`The filter '${filter.name}' is invalid`);
  const addresses = cloud
    .floatingAddresses()
    .filter((address) => allocationIds.length === 0 || allocationIds.includes(address.id))
    .filter((address) => publicIps.length === 0 || publicIps.includes(address.address))
    .filter((address) => filters.every((filter) => (valueOf(address, filter.name) ?? []).some((value) => matchesFilterValue(value, filter.values))));
  return { addressesSet: addresses.map((address) => addressXml(address, cloud)) };
};

const describeAvailabilityZones: Ec2Action = (_params, cloud) => ({
  availabilityZoneInfo: cloud.config.zones.map((zone, index) => ({
    zoneName: zone.name,
    zoneState: 'available',
    regionName: cloud.region,
    messageSet: [],
    zoneId: `use1-az${index + 1}`,
    zoneType: 'availability-zone',
    optInStatus: 'opt-in-not-required',
    groupName: cloud.region,
    networkBorderGroup: cloud.region,
  })),
});

function imageFilterValue(image: Image | undefined, name: string): string[] | undefined {
  switch (name) {
    case 'name':
      return image ? [image.name] : [];
    case 'image-id':
      return image ? [image.id] : [];
    case 'state':
      return ['available'];
    case 'owner-id':
      return [ownerId];
    default:
      return undefined;
  }
}

const describeImages: Ec2Action = (params, cloud) => {
  const ids = params.list('ImageId');
  for (const id of ids) if (!cloud.images.some((image) => image.id === id)) throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
  // Every simulated image belongs to the one account: `self` or its id selects them, other owners nothing.
  const owners = params.list('Owner');
  const owned = owners.length === 0 || owners.some((owner) => owner === 'self' || owner === ownerId);
  const filters = params.filters();
  for (const filter of filters) if (imageFilterValue(cloud.images[0], filter.name) === undefined) throw invalidParameterValue(`The filter '${filter.name}' is invalid`);
  const images = cloud.images
    .filter((image) => owned && (ids.length === 0 || ids.includes(image.id)))
    .filter((image) => filters.every((filter) => (imageFilterValue(image, filter.name) ?? []).some((value) => matchesFilterValue(value, filter.values))));
  return {
    imagesSet: images.map((image) => ({
      imageId: image.id,
      imageLocation: `${ownerId}/${image.name}`,
      imageState: 'available',
      imageOwnerId: ownerId,
      creationDate: new Date(image.createdAt).toISOString(),
      isPublic: true,
      architecture: 'x86_64',
      imageType: 'machine',
      name: image.name,
      rootDeviceType: 'ebs',
      rootDeviceName: '/dev/xvda',
      virtualizationType: 'hvm',
      hypervisor: 'xen',
    })),
  };
};

/** The cloud's flavors as instance types, paged like every EC2 list. */
const describeInstanceTypes: Ec2Action = (params, cloud) => {
  const requested = params.list('InstanceType');
  const unknown = requested.filter((name) => !cloud.flavors.some((flavor) => flavor.name === name));
  if (unknown.length > 0) throw invalidParameterValue(`The following supplied instance types do not exist: [${unknown.join(', ')}]`);
  const flavors = cloud.flavors.filter((flavor) => requested.length === 0 || requested.includes(flavor.name));
  const { page, nextToken } = pageOf(flavors, params, 5);
  return {
    instanceTypeSet: page.map((flavor) => ({
      instanceType: flavor.name,
      currentGeneration: true,
      supportedUsageClasses: ['on-demand'],
      supportedRootDeviceTypes: ['ebs'],
      bareMetal: false,
      hypervisor: 'nitro',
      processorInfo: { supportedArchitectures: ['x86_64'] },
      vCpuInfo: { defaultVCpus: flavor.vcpus },
      memoryInfo: { sizeInMiB: flavor.ramMb },
      instanceStorageSupported: false,
    })),
    nextToken,
  };
};

/** The regions this endpoint serves; naming one it does not is an `InvalidParameterValue`, as on AWS. */
const describeRegions: Ec2Action = (params, _cloud, { regions }) => {
  const requested = params.list('RegionName');
  const unknown = requested.filter((name) => !regions.includes(name));
  if (unknown.length > 0) throw invalidParameterValue(`Invalid region names: ${unknown.join(', ')}`);
  return {
    regionInfo: regions
      .filter((name) => requested.length === 0 || requested.includes(name))
      .map((name) => ({ regionName: name, regionEndpoint: `ec2.${name}.amazonaws.com`, optInStatus: 'opt-in-not-required' })),
  };
};

/** Every supported action by its `Action` name. */
export const ec2Actions: Readonly<Record<string, Ec2Action>> = {
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  DescribeInstanceStatus: describeInstanceStatus,
  StartInstances: changeState('start', 'instancesSet'),
  StopInstances: changeState('stop', 'instancesSet'),
  TerminateInstances: changeState('delete', 'instancesSet'),
  RebootInstances: (params, cloud, context) => {
    changeState('reboot', 'instancesSet')(params, cloud, context);
    return { return: true };
  },
  CreateTags: createTags,
  DeleteTags: deleteTags,
  AllocateAddress: allocateAddress,
  AssociateAddress: associateAddress,
  DisassociateAddress: disassociateAddress,
  ReleaseAddress: releaseAddress,
  DescribeAddresses: describeAddresses,
  DescribeAvailabilityZones: describeAvailabilityZones,
  DescribeImages: describeImages,
  DescribeInstanceTypes: describeInstanceTypes,
  DescribeRegions: describeRegions,
};

