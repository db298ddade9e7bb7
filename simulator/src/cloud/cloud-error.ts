/**
 * Errors of the cloud model. Each carries a code the provider APIs translate into their own
 * formats (Nova JSON faults, EC2 error XML), so the model never knows about HTTP.
 */
import type { Operation } from './lifecycle.ts';

/** Why the model refused a request. */
export type CloudErrorDetail =
  | { readonly code: 'vm-not-found'; readonly vmId: string }
  | { readonly code: 'invalid-state'; readonly vmId: string; readonly operation: Operation | 'associate-address'; readonly attribute: string; readonly value: string }
  | { readonly code: 'unknown-image'; readonly imageId: string }
  | { readonly code: 'unknown-flavor'; readonly flavorId: string }
  | { readonly code: 'unknown-zone'; readonly zone: string }
  | { readonly code: 'unknown-network'; readonly network: string }
  | { readonly code: 'quota-exceeded'; readonly requested: number; readonly used: number; readonly limit: number }
  | { readonly code: 'addresses-exhausted'; readonly pool: string }
  | { readonly code: 'address-not-found'; readonly address: string }
  | { readonly code: 'address-in-use'; readonly address: string; readonly vmId: string }
  | { readonly code: 'no-floating-pool'; readonly network: string };

export type CloudErrorCode = CloudErrorDetail['code'];

export class CloudError extends Error {
  readonly detail: CloudErrorDetail;

  constructor(detail: CloudErrorDetail, message: string) {
    super(message);
    this.name = 'CloudError';
    this.detail = detail;
  }
}
