/**
 * Keystone v3 as clients use it: version discovery, password and token authentication with
 * project scope, token validation and revocation, and the service catalog.
 */
import { createHash } from 'node:crypto';
import express from 'express';
import type { ErrorRequestHandler, Request, Response, Router } from 'express';
import { computeUrl, identityPath, imageUrl, isoMicros, networkUrl, origin } from './endpoints.ts';
import type { OpenStackRegion } from './endpoints.ts';
import type { Identity, ProjectSelector, Token, User, UserSelector } from './identity.ts';

/** A Keystone error: `{"error": {"code", "title", "message"}}`. */
export class KeystoneError extends Error {
  readonly status: number;
  readonly title: string;
  constructor(status: number, title: string, message: string) {
    super(message);
    this.name = 'KeystoneError';
    this.status = status;
    this.title = title;
  }
}

const unauthorized = (): KeystoneError => new KeystoneError(401, 'Unauthorized', 'The request you have made requires authentication.');
const badRequest = (message: string): KeystoneError => new KeystoneError(400, 'Bad Request', message);

const versionId = 'v3.14';
const versionUpdated = '2020-04-07T00:00:00Z';

function versionDocument(req: Request): object {
  return {
    id: versionId,
    status: 'stable',
    updated: versionUpdated,
    links: [{ rel: 'self', href: `${origin(req)}${identityPath}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

/** Writes a Keystone error response. */
export function sendKeystoneError(res: Response, req: Request, error: KeystoneError): void {
  if (error.status === 401) res.set('WWW-Authenticate', `Keystone uri="${origin(req)}${identityPath}"`);
  res.status(error.status).json({ error: { code: error.status, title: error.title, message: error.message } });
}

export function createKeystoneRouter(options: { identity: Identity; regions: () => readonly OpenStackRegion[] }): Router {
  const { identity } = options;
  const router = express.Router();
  router.use(express.json({ type: () => true, limit: '1mb' }));

  router.get('/', (req, res) => {
    res.status(300).json({ versions: { values: [versionDocument(req)] } });
  });
  router.get(['/v3', '/v3/'], (req, res) => {
    res.json({ version: versionDocument(req) });
  });

  router.post('/v3/auth/tokens', (req, res) => {
    const { user, scope, methods } = parseAuthRequest(req.body, identity);
    const token = identity.issue(user, scope, methods);
    if (!token) throw unauthorized();
    res.status(201).set('X-Subject-Token', token.id).json(tokenDocument(req, token, options.regions(), req.query.nocatalog === undefined));
  });

  const subjectToken = (req: Request): Token => {
    if (!identity.validate(req.get('X-Auth-Token'))) throw unauthorized();
    const subject = identity.validate(req.get('X-Subject-Token'));
    if (!subject) throw new KeystoneError(404, 'Not Found', `Could not find token: ${req.get('X-Subject-Token') ?? ''}.`);
    return subject;
  };
  router.get('/v3/auth/tokens', (req, res) => {
    const token = subjectToken(req);
    res.set('X-Subject-Token', token.id).json(tokenDocument(req, token, options.regions(), req.query.nocatalog === undefined));
  });
  router.head('/v3/auth/tokens', (req, res) => {
    res.set('X-Subject-Token', subjectToken(req).id).status(200).end();
  });
  router.delete('/v3/auth/tokens', (req, res) => {
    identity.revoke(subjectToken(req).id);
    res.status(204).end();
  });
  router.get('/v3/auth/catalog', (req, res) => {
    const token = identity.validate(req.get('X-Auth-Token'));
    if (!token) throw unauthorized();
    res.json({ catalog: token.project ? catalog(req, options.regions()) : [], links: { self: `${origin(req)}${identityPath}/v3/auth/catalog` } });
  });
  router.get('/v3/auth/projects', (req, res) => {
    const token = identity.validate(req.get('X-Auth-Token'));
    if (!token) throw unauthorized();
    res.json({
      projects: token.user.projects.map(({ project }) => ({ id: project.id, name: project.name, domain_id: project.domain.id, enabled: true, is_domain: false, parent_id: project.domain.id, description: '', links: { self: `${origin(req)}${identityPath}/v3/projects/${project.id}` } })),
      links: { self: `${origin(req)}${identityPath}/v3/auth/projects`, next: null, previous: null },
    });
  });

  router.use((_req, _res, next) => next(new KeystoneError(404, 'Not Found', 'The resource could not be found.')));
  const handleError: ErrorRequestHandler = (error: unknown, req, res, _next) => {
    if (error instanceof KeystoneError) return sendKeystoneError(res, req, error);
    if (isBodyParseError(error)) return sendKeystoneError(res, req, badRequest('Malformed request body: expected a JSON object.'));
    sendKeystoneError(res, req, new KeystoneError(500, 'Internal Server Error', 'An unexpected error prevented the server from fulfilling your request.'));
  };
  router.use(handleError);
  return router;
}

/** Whether an error came from express's body parser (malformed JSON, wrong size). */
export function isBodyParseError(error: unknown): error is { status: number; type: string } {
  return typeof error === 'object' && error !== null && 'type' in error && typeof error.type === 'string' && 'status' in error && typeof error.status === 'number' && error.status < 500;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function selector(value: Record<string, unknown>): UserSelector {
  const domain = record(value.domain);
  return { id: optionalString(value.id), name: optionalString(value.name), domain: domain ? { id: optionalString(domain.id), name: optionalString(domain.name) } : undefined };
}

function parseAuthRequest(body: unknown, identity: Identity): { user: User; scope: ProjectSelector | null; methods: string[] } {
  const auth = record(record(body)?.auth);
  if (!auth) throw badRequest("Invalid input for field 'auth': 'auth' is a required property");
  const identityPart = record(auth.identity);
  if (!identityPart) throw badRequest("Invalid input for field 'identity': 'identity' is a required property");
  const methods = identityPart.methods;
  if (!Array.isArray(methods) || methods.length === 0 || !methods.every((method) => typeof method === 'string')) {
    throw badRequest("Invalid input for field 'identity': 'methods' is a required property");
  }
  let user: User | undefined;
  let scope: ProjectSelector | null = null;
  if (methods.includes('password')) {
    const password = record(record(identityPart.password)?.user);
    if (!password) throw badRequest("Invalid input for field 'password': 'user' is a required property");
    const who = selector(password);
    if (who.id === undefined && (who.name === undefined || !who.domain)) throw badRequest('Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
    user = identity.authenticate(who, optionalString(password.password) ?? '');
  } else if (methods.includes('token')) {
    const token = identity.validate(optionalString(record(identityPart.token)?.id));
    user = token?.user;
    // A token re-scoped without a new scope keeps its project.
    if (token?.project) scope = { id: token.project.id };
  } else {
    throw unauthorized();
  }
  if (!user) throw unauthorized();
  const scopePart = record(auth.scope);
  const project = record(scopePart?.project);
  if (project) {
    scope = selector(project);
    if (scope.id === undefined && (scope.name === undefined || !scope.domain)) throw badRequest('Expecting to find domain in project. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
  } else if (scopePart && !project) {
    // Domain and system scopes exist in Keystone; this simulator's users hold project roles only.
    throw unauthorized();
  }
  return { user, scope, methods: methods };
}

function endpointId(...parts: string[]): string {
  return createHash('md5').update(parts.join('/')).digest('hex');
}

function catalog(req: Request, regions: readonly OpenStackRegion[]): object[] {
  const service = (type: string, name: string, url: (region: OpenStackRegion) => string): object => ({
    id: endpointId(type),
    type,
    name,
    endpoints: regions.flatMap((region) =>
      (['public', 'internal', 'admin'] as const).map((face) => ({ id: endpointId(type, region.cloud.region, face), interface: face, region: region.cloud.region, region_id: region.cloud.region, url: url(region) })),
    ),
  });
  return [service('identity', 'keystone', () => `${origin(req)}${identityPath}`), service('compute', 'nova', (region) => computeUrl(req, region)), service('image', 'glance', (region) => imageUrl(req, region)), service('network', 'neutron', (region) => networkUrl(req, region))];
}

function tokenDocument(req: Request, token: Token, regions: readonly OpenStackRegion[], withCatalog: boolean): object {
  const domain = (ref: { id: string; name: string }): object => ({ id: ref.id, name: ref.name });
  return {
    token: {
      methods: token.methods,
      user: { domain: domain(token.user.domain), id: token.user.id, name: token.user.name, password_expires_at: null },
      audit_ids: [token.auditId],
      expires_at: isoMicros(token.expiresAt),
      issued_at: isoMicros(token.issuedAt),
      ...(token.project ? { project: { domain: domain(token.project.domain), id: token.project.id, name: token.project.name }, is_domain: false, roles: token.roles.map((role) => ({ id: role.id, name: role.name })) } : {}),
      ...(withCatalog ? { catalog: token.project ? catalog(req, regions) : [] } : {}),
    },
  };
}
