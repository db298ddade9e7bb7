/**
 * What every OpenStack service of the simulator does before answering: keystonemiddleware's token
 * check, then the cloud's gate (rate limit, injected faults). Glance and Neutron refuse in one
 * error type, rendered in each service's own format.
 */
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { ApiRejection, Cloud } from '../cloud/cloud.ts';
import type { Identity, Token } from './identity.ts';
import { KeystoneError, sendKeystoneError } from './keystone-routes.ts';

/** An error of a service that names its kind (Glance's title, Neutron's type) beside status and message. */
export class ServiceError extends Error {
  readonly status: number;
  readonly kind: string;
  constructor(status: number, kind: string, message: string) {
    super(message);
    this.name = 'ServiceError';
    this.status = status;
    this.kind = kind;
  }
}

/** The request's valid token, or the 401 keystonemiddleware answers in Keystone's format. */
export function requireToken(identity: Identity, req: Request): Token {
  const token = identity.validate(req.get('X-Auth-Token'));
  if (!token) throw new KeystoneError(401, 'Unauthorized', 'The request you have made requires authentication.');
  return token;
}

/** The status a service answers a refused call with. */
export function rejectionStatus(rejection: ApiRejection): 429 | 500 | 503 {
  switch (rejection.kind) {
    case 'throttled':
      return 429;
    case 'unavailable':
      return 503;
    case 'internal-error':
      return 500;
  }
}

/**
 * Passes one call through the cloud's gate, or throws the service's error for the refusal, with
 * the kind the service gives each status.
 */
export async function admitCall(cloud: Cloud, operation: string, kinds: Record<429 | 500 | 503, string>): Promise<void> {
  const rejection = await cloud.admit(operation);
  if (!rejection) return;
  const status = rejectionStatus(rejection);
  throw new ServiceError(status, kinds[status], rejection.kind === 'throttled' ? 'This request was rate-limited.' : rejection.message);
}

/**
 * A service's last handler: token refusals in Keystone's format, its own errors in its format, and
 * anything else as its generic 500, details hidden.
 */
export function serviceErrorHandler(send: (res: Response, error: ServiceError) => void, internal: ServiceError): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (error instanceof KeystoneError) return sendKeystoneError(res, req, error);
    send(res, error instanceof ServiceError ? error : internal);
  };
}
