/**
 * What RunInstances is asked for one launch: one instance of the resolved image, the action id as
 * the `ClientToken` (EC2's idempotency: a repeat returns the first launch's instance), Defib's tags
 * and the caller's, user data in base64. Pure.
 */
import { createHash } from 'node:crypto';
import type { _InstanceType, RunInstancesCommandInput, Tag } from '@aws-sdk/client-ec2';
import { actionMetadataKey, managedMetadataKey } from '../driver/cloud-driver.ts';
import type { LaunchRequest } from '../driver/cloud-driver.ts';

/** EC2 allows client tokens of up to 64 ASCII characters; longer action ids are hashed to fit. */
export function clientTokenFor(actionId: string): string {
  return actionId.length <= 64 && /^[\x20-\x7e]+$/.test(actionId) ? actionId : createHash('sha256').update(actionId).digest('hex');
}

/** Tags the driver sets itself: a caller's value for them is dropped, never forged through. */
const driverTagKeys: ReadonlySet<string> = new Set([actionMetadataKey, managedMetadataKey, 'Name']);

/**
 * The instance's tags: the caller's metadata (less the driver's own keys, as on OpenStack: the
 * caller's `defib-deployable` and `defib-assembly` pass), then Defib's marks and the name.
 */
export function launchTags(request: LaunchRequest): Tag[] {
  const own = Object.entries(request.metadata ?? {}).filter(([key]) => !driverTagKeys.has(key));
  return [...own.map(([Key, Value]) => ({ Key, Value })), { Key: actionMetadataKey, Value: request.actionId }, { Key: managedMetadataKey, Value: 'true' }, { Key: 'Name', Value: request.name }];
}

export function runInstancesInput(request: LaunchRequest, imageId: string): RunInstancesCommandInput {
  const network = request.network;
  return {
    ImageId: imageId,
    // Any type the cloud offers; the SDK's union lists only AWS's own.
    InstanceType: request.flavor as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    ClientToken: clientTokenFor(request.actionId),
    TagSpecifications: [{ ResourceType: 'instance', Tags: launchTags(request) }],
    ...(request.userData === undefined ? {} : { UserData: Buffer.from(request.userData, 'utf8').toString('base64') }),
    ...(request.zone === undefined ? {} : { Placement: { AvailabilityZone: request.zone } }),
    // EC2 attaches to subnets; OpenStack network names (`auto`, `private`) mean nothing here.
    ...(network?.startsWith('subnet-') === true ? { SubnetId: network } : {}),
  };
}
