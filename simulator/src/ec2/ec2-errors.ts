/** EC2 error codes with their HTTP statuses, and the translation of model refusals into them. */
import type { ApiRejection } from '../cloud/cloud.ts';
import { CloudError } from '../cloud/cloud-error.ts';
import { ec2Verbs } from '../cloud/ec2-state.ts';

/** An EC2 API error: `code` becomes the SDK exception's `name`. */
export class Ec2Error extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = 'Ec2Error';
    this.code = code;
    this.status = status;
  }
}

export const missingParameter = (name: string): Ec2Error => new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);
export const invalidParameterValue = (message: string): Ec2Error => new Ec2Error('InvalidParameterValue', message);

/** InvalidInstanceID.NotFound, worded for one or several ids as EC2 does. */
export function instancesNotFound(ids: readonly string[]): Ec2Error {
  return ids.length === 1
    ? new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${ids[0] ?? ''}' does not exist`)
    : new Ec2Error('InvalidInstanceID.NotFound', `The instance IDs '${ids.join(', ')}' do not exist`);
}

export function ec2ErrorFromCloudError(error: CloudError): Ec2Error {
  const detail = error.detail;
  switch (detail.code) {
    case 'vm-not-found':
      return instancesNotFound([detail.vmId]);
    case 'invalid-state':
      return detail.operation === 'associate-address'
        ? new Ec2Error('IncorrectInstanceState', `The instance '${detail.vmId}' is not in a valid state for this operation.`)
        : new Ec2Error('IncorrectInstanceState', `The instance '${detail.vmId}' is not in a state from which it can be ${ec2Verbs[detail.operation]}.`);
    case 'unknown-image':
      return new Ec2Error('InvalidAMIID.NotFound', `The image id '[${detail.imageId}]' does not exist`);
    case 'unknown-flavor':
      return invalidParameterValue(`Invalid value '${detail.flavorId}' for InstanceType.`);
    case 'unknown-zone':
      return invalidParameterValue(`Invalid availability zone: [${detail.zone}]`);
    case 'unknown-network':
      return new Ec2Error('InvalidSubnetID.NotFound', `The subnet ID '${detail.network}' does not exist`);
    case 'quota-exceeded':
      return new Ec2Error('InstanceLimitExceeded', `You have requested more instances (${detail.used + detail.requested}) than your current instance limit of ${detail.limit} allows for the specified instance type.`);
    case 'addresses-exhausted':
      return new Ec2Error('InsufficientFreeAddressesInSubnet', `There are not enough free addresses in ${detail.pool} to satisfy the requested number of instances.`);
    case 'address-not-found':
      if (detail.address.startsWith('eipalloc-')) return new Ec2Error('InvalidAllocationID.NotFound', `The allocation ID '${detail.address}' does not exist`);
      if (detail.address.startsWith('eipassoc-')) return new Ec2Error('InvalidAssociationID.NotFound', `The association ID '${detail.address}' does not exist`);
      return new Ec2Error('InvalidAddress.NotFound', `Address '${detail.address}' not found.`);
    case 'address-in-use':
      return new Ec2Error('InvalidIPAddress.InUse', `Address ${detail.address} is in use by ${detail.vmId}.`);
    case 'no-floating-pool':
      return invalidParameterValue(`Subnet ${detail.network} has no public address pool.`);
  }
}

export function ec2ErrorFromRejection(rejection: ApiRejection): Ec2Error {
  switch (rejection.kind) {
    case 'throttled':
      return new Ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503);
    case 'unavailable':
      return new Ec2Error('Unavailable', rejection.message, 503);
    case 'internal-error':
      return new Ec2Error('InternalError', rejection.message, 500);
  }
}

/** Any error to the EC2 error to send; unknown errors become InternalError without details. */
export function toEc2Error(error: unknown): Ec2Error {
  if (error instanceof Ec2Error) return error;
  if (error instanceof CloudError) return ec2ErrorFromCloudError(error);
  if (typeof error === 'object' && error !== null && 'type' in error && 'status' in error && typeof error.status === 'number' && error.status < 500) {
    return new Ec2Error('InvalidParameterValue', 'The request body could not be parsed.');
  }
  return new Ec2Error('InternalError', 'An internal error has occurred', 500);
}
