/**
 * EC2's view of an instance, as Defib's {@link CloudInstance}: states normalised, tags as metadata,
 * private and public addresses, and the status checks as {@link InstanceHealth}. Pure functions.
 */
import { isIP } from 'node:net';
import type { Instance, InstanceStatus, InstanceStatusSummary } from '@aws-sdk/client-ec2';
import type { Address } from '@defib/contracts';
import { actionMetadataKey } from '../driver/cloud-driver.ts';
import type { CloudInstance, InstanceHealth, InstanceState, StatusCheck } from '../driver/cloud-driver.ts';

const statesByName: Readonly<Record<string, InstanceState>> = {
  pending: 'pending',
  running: 'running',
  'shutting-down': 'terminating',
  terminated: 'terminated',
  stopping: 'stopping',
  stopped: 'stopped',
};

const statusChecks: ReadonlySet<string> = new Set<StatusCheck>(['ok', 'impaired', 'insufficient-data', 'initializing', 'not-applicable']);

function statusCheck(summary: InstanceStatusSummary | undefined): StatusCheck {
  const status = summary?.Status;
  return status !== undefined && statusChecks.has(status) ? status : 'insufficient-data';
}

/** The two status checks of one instance, with the names of the checks that failed. */
export function instanceHealth(status: InstanceStatus): InstanceHealth {
  const failed = [status.SystemStatus, status.InstanceStatus].flatMap((summary) => (summary?.Details ?? []).filter((detail) => detail.Status === 'failed').map((detail) => detail.Name ?? 'unknown'));
  return { instance: statusCheck(status.InstanceStatus), system: statusCheck(status.SystemStatus), details: [...new Set(failed)] };
}

function address(text: string | undefined, type: Address['type'], network: string | undefined): Address[] {
  if (text === undefined || text === '') return [];
  const version = isIP(text);
  if (version !== 4 && version !== 6) return [];
  return [{ address: text, type, version, ...(network === undefined ? {} : { network }) }];
}

/** The instance's private (fixed) and public (floating) addresses on every interface, IPv6 included. */
function addressesOf(instance: Instance): Address[] {
  const interfaces = instance.NetworkInterfaces ?? [];
  if (interfaces.length === 0) return [...address(instance.PrivateIpAddress, 'fixed', instance.SubnetId), ...address(instance.PublicIpAddress, 'floating', instance.SubnetId)];
  return interfaces.flatMap((networkInterface) => [
    ...(networkInterface.PrivateIpAddresses ?? []).flatMap((entry) => [...address(entry.PrivateIpAddress, 'fixed', networkInterface.SubnetId), ...address(entry.Association?.PublicIp, 'floating', networkInterface.SubnetId)]),
    ...(networkInterface.Ipv6Addresses ?? []).flatMap((entry) => address(entry.Ipv6Address, 'fixed', networkInterface.SubnetId)),
  ]);
}

/** `running`, or `running/instance-impaired` when a status check failed: the words events and people see. */
function cloudStatusOf(stateName: string, health: InstanceHealth | undefined): string {
  const impaired = health === undefined ? [] : [health.system === 'impaired' ? 'system' : undefined, health.instance === 'impaired' ? 'instance' : undefined].filter((check) => check !== undefined);
  return impaired.length === 0 ? stateName : `${stateName}/${impaired.join('+')}-impaired`;
}

/** One EC2 instance (and its status checks, when known) as Defib sees it. */
export function toCloudInstance(instance: Instance, status?: InstanceStatus): CloudInstance {
  const metadata = Object.fromEntries((instance.Tags ?? []).filter((tag) => tag.Key !== undefined).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  const stateName = instance.State?.Name ?? 'unknown';
  const health = status === undefined ? undefined : instanceHealth(status);
  const actionId = metadata[actionMetadataKey];
  const zone = instance.Placement?.AvailabilityZone;
  return {
    id: instance.InstanceId ?? '',
    name: metadata.Name ?? '',
    state: statesByName[stateName] ?? 'other',
    cloudStatus: cloudStatusOf(stateName, health),
    addresses: addressesOf(instance),
    metadata,
    ...(zone === undefined ? {} : { zone }),
    ...(actionId === undefined ? {} : { actionId }),
    ...(health === undefined ? {} : { health }),
  };
}
