/**
 * Nova's fault format: `{"<kind>": {"code": <status>, "message": "..."}}`, where the kind follows
 * the status as in nova/api/openstack/wsgi.py (Fault._fault_names).
 */
import type { Response } from 'express';
import type { ApiRejection } from '../cloud/cloud.ts';
import { CloudError } from '../cloud/cloud-error.ts';
import { novaActionNames } from '../cloud/nova-state.ts';

export class NovaFault extends Error {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'NovaFault';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const faultNames: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

export const badRequest = (message: string): NovaFault => new NovaFault(400, message);
export const itemNotFound = (message: string): NovaFault => new NovaFault(404, message);
export const serverNotFound = (id: string): NovaFault => itemNotFound(`Instance ${id} could not be found.`);

/**
 * A value as Python prints it (`repr`), which is how Nova's messages quote what they refuse:
 * `{'name': 'x', 'count': 1, 'ok': True}`.
 */
export function pythonLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return value.includes("'") && !value.includes('"') ? `"${value}"` : `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(pythonLiteral).join(', ')}]`;
  if (typeof value === 'object') return `{${Object.entries(value).map(([key, entry]) => `${pythonLiteral(key)}: ${pythonLiteral(entry)}`).join(', ')}}`;
  return typeof value === 'number' || typeof value === 'bigint' ? String(value) : typeof value;
}

/** Nova's JSON-schema wording for a bad field: a string value bare, anything else as Python prints it. */
export const invalidField = (field: string, value: unknown, reason: string): NovaFault => badRequest(`Invalid input for field/attribute ${field}. Value: ${typeof value === 'string' ? value : pythonLiteral(value)}. ${reason}`);

/** The same for a bad query parameter. */
export const invalidQuery = (parameter: string, value: string, reason: string): NovaFault => badRequest(`Invalid input for query parameters ${parameter}. Value: ${value}. ${reason}`);

export function sendNovaFault(res: Response, fault: NovaFault): void {
  if (fault.retryAfterSeconds !== undefined) res.set('Retry-After', String(fault.retryAfterSeconds));
  const name = faultNames[fault.status] ?? 'computeFault';
  const body: Record<string, unknown> = { code: fault.status, message: fault.message };
  if (fault.retryAfterSeconds !== undefined) body.retryAfter = String(fault.retryAfterSeconds);
  res.status(fault.status).json({ [name]: body });
}

/** Translates a refusal of the model into the fault Nova gives for it. */
export function novaFaultFromCloudError(error: CloudError): NovaFault {
  const detail = error.detail;
  switch (detail.code) {
    case 'vm-not-found':
      return serverNotFound(detail.vmId);
    case 'invalid-state': {
      const action = detail.operation === 'associate-address' ? 'associate' : novaActionNames[detail.operation];
      return new NovaFault(409, `Cannot '${action}' instance ${detail.vmId} while it is in ${detail.attribute} ${detail.value}`);
    }
    case 'unknown-image':
      return badRequest('Can not find requested image');
    case 'unknown-flavor':
      return badRequest(`Flavor ${detail.flavorId} could not be found.`);
    case 'unknown-zone':
      return badRequest('The requested availability zone is not available');
    case 'unknown-network':
      return badRequest(`Network ${detail.network} could not be found.`);
    case 'quota-exceeded':
      return new NovaFault(403, `Quota exceeded for instances: Requested ${detail.requested}, but already used ${detail.used} of ${detail.limit} instances`);
    case 'addresses-exhausted':
      return badRequest(`No fixed IP addresses available for network: ${detail.pool}`);
    case 'address-not-found':
      return itemNotFound(`Floating IP ${detail.address} could not be found.`);
    case 'address-in-use':
      return badRequest(`Floating IP ${detail.address} is associated with instance ${detail.vmId}.`);
    case 'no-floating-pool':
      return itemNotFound(`Floating IP pool not found for network ${detail.network}.`);
  }
}

/** The fault for a call the cloud's gate refused (rate limit, injected outage or error). */
export function novaFaultFromRejection(rejection: ApiRejection): NovaFault {
  switch (rejection.kind) {
    case 'throttled':
      return new NovaFault(429, 'This request was rate-limited.', Math.max(1, Math.ceil(rejection.retryAfterMs / 1000)));
    case 'unavailable':
      return new NovaFault(503, rejection.message);
    case 'internal-error':
      return new NovaFault(500, rejection.message);
  }
}

/** Any error to the Nova fault to send; unknown errors become Nova's generic 500. */
export function toNovaFault(error: unknown): NovaFault {
  if (error instanceof NovaFault) return error;
  if (error instanceof CloudError) return novaFaultFromCloudError(error);
  if (typeof error === 'object' && error !== null && 'type' in error && 'status' in error && typeof error.status === 'number' && error.status < 500) {
    return error.status === 413 ? new NovaFault(413, 'Request is too large.') : badRequest('Malformed request body');
  }
  return new NovaFault(500, 'Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.');
}
