/**
 * Bearer-token access control. The admin token may read and write; read tokens may only read;
 * `openReads` lets read routes be called without a token. With no admin token configured every
 * write is refused — a service is never writable by accident. Service tokens
 * (`DEFIB_SERVICE_TOKENS`) are what Defib's own services present to each other: they may read and
 * call `service` routes — the few that hand out secrets, such as a cloud's credentials — which
 * admit the admin too but never a read token, nor anyone when open reads are on. Tokens are
 * compared in constant time (over SHA-256 digests, so lengths leak nothing either) and never
 * logged or echoed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServiceConfig } from '../config.ts';
import { AppError } from './errors.ts';

/**
 * Who may call a route: anyone (`public`); a reader, or anyone with open reads (`read`); the admin
 * (`write`); one of Defib's own services, or the admin (`service`).
 */
export type RouteScope = 'public' | 'read' | 'write' | 'service';

/** Who is calling. */
export type Principal = 'admin' | 'service' | 'reader' | 'anonymous';

/** What a handler learns about its caller. */
export interface AuthContext {
  readonly principal: Principal;
  readonly canWrite: boolean;
}

export type AuthSettings = ServiceConfig['auth'];

export interface Authenticator {
  /** The caller's context for a route of `scope`; throws a 401 or 403 `AppError` when refused. */
  authorize(authorizationHeader: string | undefined, scope: RouteScope): AuthContext;
}

const ANONYMOUS: AuthContext = { principal: 'anonymous', canWrite: false };
const READER: AuthContext = { principal: 'reader', canWrite: false };
const SERVICE: AuthContext = { principal: 'service', canWrite: false };
const ADMIN: AuthContext = { principal: 'admin', canWrite: true };

export function createAuthenticator(settings: AuthSettings): Authenticator {
  const adminDigest = settings.adminToken === undefined || settings.adminToken === '' ? undefined : digest(settings.adminToken);
  const readDigests = settings.readTokens.filter((token) => token !== '').map(digest);
  const serviceDigests = (settings.serviceTokens ?? []).filter((token) => token !== '').map(digest);
  const anyToken = adminDigest !== undefined || readDigests.length > 0 || serviceDigests.length > 0;

  // Compares against every candidate, without stopping early, so timing says nothing about which.
  const matchesAny = (presented: Buffer, candidates: readonly Buffer[]): boolean => {
    let matched = false;
    for (const candidate of candidates) matched = timingSafeEqual(presented, candidate) || matched;
    return matched;
  };

  const identify = (token: string): AuthContext | undefined => {
    const presented = digest(token);
    const isAdmin = adminDigest !== undefined && timingSafeEqual(presented, adminDigest);
    const isService = matchesAny(presented, serviceDigests);
    const isReader = matchesAny(presented, readDigests);
    if (isAdmin) return ADMIN;
    if (isService) return SERVICE;
    return isReader ? READER : undefined;
  };

  const identifyOrRefuse = (token: string): AuthContext => {
    const caller = identify(token);
    if (caller === undefined) throw AppError.unauthorized('the bearer token is not valid', 'invalid_token');
    return caller;
  };

  return {
    authorize(authorizationHeader, scope) {
      const token = bearerToken(authorizationHeader);
      switch (scope) {
        case 'public':
          return (token === undefined ? undefined : identify(token)) ?? ANONYMOUS;
        case 'read': {
          if (token === undefined) {
            if (settings.openReads) return ANONYMOUS;
            throw AppError.unauthorized(
              anyToken
                ? 'a bearer token is required'
                : 'a bearer token is required, and none is configured (set DEFIB_ADMIN_TOKEN or DEFIB_READ_TOKENS)',
            );
          }
          return identifyOrRefuse(token);
        }
        case 'write': {
          if (adminDigest === undefined) {
            throw AppError.unauthorized('write access is disabled: no admin token is configured (set DEFIB_ADMIN_TOKEN)');
          }
          if (token === undefined) throw AppError.unauthorized('a bearer token with write access is required');
          const caller = identifyOrRefuse(token);
          if (!caller.canWrite) throw AppError.forbidden('this token may only read', true);
          return caller;
        }
        case 'service': {
          if (token === undefined) throw AppError.unauthorized('a bearer token with service access is required (DEFIB_SERVICE_TOKENS)');
          const caller = identifyOrRefuse(token);
          if (caller.principal !== 'service' && caller.principal !== 'admin') throw AppError.forbidden('this token may not call service routes', true);
          return caller;
        }
      }
    },
  };
}

/**
 * The token of an `Authorization: Bearer <token>` header; `undefined` when there is no header.
 * Any other scheme or shape is a 401 `invalid_request`.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (match?.[1] === undefined) {
    throw AppError.unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_request');
  }
  return match[1];
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
