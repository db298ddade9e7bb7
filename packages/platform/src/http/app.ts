/**
 * The one HTTP bootstrap every Defib service uses: an express 5 app with correlation ids,
 * access log and metrics, bearer auth, strict JSON/YAML bodies, zod validation, `/healthz`,
 * `/readyz`, `/metrics`, `/openapi.json`, and one error path to `application/problem+json`.
 */
import type { IncomingMessage } from 'node:http';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Registry } from 'prom-client';
import { runWithCorrelation } from '../context.ts';
import type { Logger } from '../logger.ts';
import { createAuthenticator, type AuthSettings, type Authenticator } from './auth.ts';
import { readRequestBody, type ReceivedBody } from './body.ts';
import { CORRELATION_HEADER, acceptCorrelationId } from './correlation.ts';
import { AppError, type FieldIssue } from './errors.ts';
import { createHttpMetrics } from './metrics.ts';
import { buildOpenApiDocument, isZodSchema } from './openapi.ts';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TITLES, PROBLEM_TYPE_BASE, toProblem } from './problem.ts';
import { runReadinessChecks, type ReadinessCheck } from './readiness.ts';
import { defineRoute, type ObjectSchema, type Route, type RouteResult } from './route.ts';
import { REQUEST_PARSE_OPTIONS, fieldIssuesFromViolation, fieldIssuesFromZod, isContractViolation, isZodError } from './validation.ts';

export interface HttpAppOptions {
  /** Service name, for logs and the OpenAPI document. */
  readonly service: string;
  readonly version: string;
  readonly logger: Logger;
  readonly auth: AuthSettings;
  readonly bodyLimitBytes: number;
  readonly routes: readonly Route[];
  /** What `/readyz` checks (database, broker …). */
  readonly readiness?: readonly ReadinessCheck[];
  /** Deadline of each readiness check; 2 s by default. */
  readonly readinessTimeoutMs?: number;
  /** The service's own registry; `/metrics` serves it. */
  readonly metrics: Registry;
  readonly openapi: { readonly title: string; readonly description?: string };
  /**
   * Protocol-compatible sub-applications that keep their own formats: provider APIs such as the
   * simulator's OpenStack (`/identity`, `/compute`, `/image`) and EC2 (`/ec2`) endpoints, whose
   * clients expect the provider's bodies and error formats rather than Defib's. Each handler
   * (typically an `express.Router` with its own error handler) is mounted at its path after the
   * correlation id and access log, so its requests are logged and measured (under the route
   * label `<path>/*`, which keeps metric labels bounded), and before the declarative routes and
   * the 404 problem fallback. It answers errors its own way; what it passes on (`next()`) falls
   * through to the declarative routes, and what it throws to `next(error)` reaches the problem
   * mapper. It is not described in `/openapi.json`. A path is a fixed prefix (`/identity`, no
   * parameters) and may not shadow a declarative route.
   */
  readonly mounts?: readonly HttpMount[];
}

/** A sub-application mounted at a fixed path prefix; see `HttpAppOptions.mounts`. */
export interface HttpMount {
  /** `/identity`, `/regions/RegionTwo/compute`: starts with `/`, no trailing `/`, no parameters. */
  readonly path: string;
  readonly handler: RequestHandler;
}

/** What the app tracks per request. */
interface RequestState {
  readonly correlationId: string;
  readonly started: number;
  /** The matched route pattern; `undefined` until a route matches. */
  route: string | undefined;
  quiet: boolean;
}

interface Lifecycle {
  draining: boolean;
}

const lifecycles = new WeakMap<Express, Lifecycle>();

/**
 * Tells an app made by `createHttpApp` that shutdown has begun: `/readyz` answers 503 and
 * responses ask clients to close their connections. `startHttpServer`'s `close()` calls it.
 */
export function beginDraining(app: Express): void {
  const lifecycle = lifecycles.get(app);
  if (lifecycle !== undefined) lifecycle.draining = true;
}

const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function createHttpApp(options: HttpAppOptions): Express {
  const app = express();
  const lifecycle: Lifecycle = { draining: false };
  lifecycles.set(app, lifecycle);
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  const { logger } = options;
  const states = new WeakMap<IncomingMessage, RequestState>();
  const metrics = createHttpMetrics(options.metrics);
  const authenticator = createAuthenticator(options.auth);
  // Bodies up to this size are read and dropped after an early error answer, keeping the
  // connection; beyond it (or of unknown length) the connection is closed instead.
  const drainBudgetBytes = Math.max(options.bodyLimitBytes, 1_048_576);

  app.use((request: Request, response: Response, next: NextFunction) => {
    const state: RequestState = {
      correlationId: acceptCorrelationId(request.headers[CORRELATION_HEADER.toLowerCase()]),
      started: performance.now(),
      route: undefined,
      quiet: PROBE_PATHS.has(request.path),
    };
    states.set(request, state);
    // Taken now: inside a mount, express strips the mount path from the request until it leaves.
    const path = request.path;
    response.setHeader(CORRELATION_HEADER, state.correlationId);
    if (lifecycle.draining) response.setHeader('Connection', 'close');
    let recorded = false;
    const record = (): void => {
      if (recorded) return;
      recorded = true;
      const ms = performance.now() - state.started;
      const route = state.route ?? 'unmatched';
      const status = response.writableFinished ? response.statusCode : 499;
      metrics.observe(request.method, route, status, ms / 1000);
      runWithCorrelation(state.correlationId, () => {
        const line = { method: request.method, route, path, status, ms: Math.round(ms * 10) / 10 };
        if (state.quiet) logger.debug(line, 'request');
        else logger.info(line, 'request');
      });
    };
    response.once('finish', record);
    response.once('close', record);
    runWithCorrelation(state.correlationId, next);
  });

  const builtIns = builtInRoutes(options, lifecycle, () => openApiDocument);
  const allRoutes = [...builtIns, ...options.routes];
  checkRoutes(allRoutes);
  const mounts = options.mounts ?? [];
  checkMounts(mounts, allRoutes);

  for (const mount of mounts) {
    const label = `${mount.path}/*`;
    app.use(mount.path, (request: Request, response: Response, next: NextFunction) => {
      const state = states.get(request);
      if (state !== undefined) state.route = label;
      void mount.handler(request, response, (error?: unknown) => {
        if (error === undefined || error === null || error === 'router' || error === 'route') {
          // Passed on unanswered: whatever answers it next labels the request.
          if (state !== undefined) state.route = undefined;
          next();
          return;
        }
        next(error);
      });
    });
  }
  const openApiDocument = buildOpenApiDocument(allRoutes, { title: options.openapi.title, version: options.version, ...(options.openapi.description === undefined ? {} : { description: options.openapi.description }) });

  const router = express.Router({ caseSensitive: true, strict: false });
  for (const [path, group] of groupByPath(allRoutes)) {
    const allowed = allowedMethods(group);
    const entry = router.route(path);
    for (const route of group) {
      const serve = (request: Request, response: Response): Promise<void> =>
        serveRoute(route, request, response, { states, authenticator, logger, bodyLimitBytes: options.bodyLimitBytes });
      switch (route.method) {
        case 'get':
          entry.get(serve);
          break;
        case 'post':
          entry.post(serve);
          break;
        case 'put':
          entry.put(serve);
          break;
        case 'patch':
          entry.patch(serve);
          break;
        case 'delete':
          entry.delete(serve);
          break;
      }
    }
    entry.all((request: Request, response: Response) => {
      const state = states.get(request);
      if (state !== undefined) state.route = path;
      if (request.method === 'OPTIONS') {
        response.status(204).setHeader('Allow', allowed.join(', ')).end();
        return;
      }
      throw AppError.methodNotAllowed(request.method, allowed);
    });
  }
  app.use(router);

  app.use((request: Request) => {
    const path = request.path.length > 200 ? `${request.path.slice(0, 200)}…` : request.path;
    throw new AppError('not_found', `no route matches ${request.method} ${path}`);
  });

  app.use((error: unknown, request: Request, response: Response, _next: NextFunction) => {
    const state = states.get(request);
    const correlationId = state?.correlationId ?? acceptCorrelationId(undefined);
    const problem = toProblem(error, { instance: request.path, correlationId });
    runWithCorrelation(correlationId, () => {
      if (problem.status >= 500) logger.error({ err: error, status: problem.status, code: problem.error.code }, 'request failed');
      else logger.debug({ status: problem.status, code: problem.error.code, detail: problem.body.detail }, 'request refused');
    });
    if (response.headersSent) {
      // Too late for a problem document: cut the response short so the client sees it failed.
      response.destroy();
      return;
    }
    for (const [name, value] of Object.entries(problem.headers)) response.setHeader(name, value);
    if (unreadBodyTooLarge(request, drainBudgetBytes)) response.setHeader('Connection', 'close');
    response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem.body));
  });

  return app;
}

/**
 * Whether answering now would leave more unread body than is worth reading and dropping (or an
 * unknown amount, when chunked), so the connection should be closed after the answer instead.
 */
function unreadBodyTooLarge(request: IncomingMessage, drainBudgetBytes: number): boolean {
  if (request.readableEnded) return false;
  if (request.headers['transfer-encoding'] !== undefined) return true;
  const declared = Number(request.headers['content-length'] ?? 0);
  return !Number.isFinite(declared) || declared > drainBudgetBytes;
}

interface ServeDependencies {
  states: WeakMap<IncomingMessage, RequestState>;
  authenticator: Authenticator;
  logger: Logger;
  bodyLimitBytes: number;
}

/** Auth → body → validation → handler → response. Anything thrown reaches the error handler. */
async function serveRoute(route: Route, request: Request, response: Response, deps: ServeDependencies): Promise<void> {
  const state = deps.states.get(request);
  if (state !== undefined) state.route = route.path;
  const correlationId = state?.correlationId ?? acceptCorrelationId(undefined);

  const auth = deps.authenticator.authorize(request.headers.authorization, route.scope);
  const received =
    route.body === undefined
      ? undefined
      : await readRequestBody(request, { limitBytes: deps.bodyLimitBytes, formats: route.bodyFormats ?? ['json'] });

  const issues: FieldIssue[] = [];
  const params = validateObject(route.params, { ...request.params }, 'params', issues);
  const query = validateObject(route.query, { ...(request.query as Record<string, unknown>) }, 'query', issues);
  const body = route.body === undefined ? undefined : validateBody(route.body, received, issues);
  if (issues.length > 0) throw AppError.validation(issues);

  const { authorization: _authorization, ...headers } = request.headers;
  const result = await route.handler({
    params: params as Record<string, string>,
    query: query as Record<string, unknown>,
    body,
    auth,
    correlationId,
    log: deps.logger,
    headers,
  });
  send(response, result);
}

function validateObject(schema: ObjectSchema | undefined, value: Record<string, unknown>, location: 'params' | 'query', issues: FieldIssue[]): unknown {
  if (schema === undefined) return value;
  const result = schema.safeParse(value, REQUEST_PARSE_OPTIONS);
  if (result.success) return result.data;
  issues.push(...fieldIssuesFromZod(result.error.issues, location));
  return undefined;
}

function validateBody(parser: NonNullable<Route['body']>, received: ReceivedBody | undefined, issues: FieldIssue[]): unknown {
  const raw = received?.value;
  if (isZodSchema(parser)) {
    const result = parser.safeParse(raw, REQUEST_PARSE_OPTIONS);
    if (result.success) return result.data;
    issues.push(...fieldIssuesFromZod(result.error.issues));
    return undefined;
  }
  try {
    return parser.parseWithSource !== undefined && received !== undefined ? parser.parseWithSource(raw, received.source) : parser.parse(raw);
  } catch (error) {
    if (isZodError(error)) issues.push(...fieldIssuesFromZod(error.issues));
    else if (isContractViolation(error)) issues.push(...fieldIssuesFromViolation(error));
    else if (error instanceof AppError && error.code === 'validation_failed' && error.issues !== undefined) issues.push(...error.issues);
    else throw error;
    return undefined;
  }
}

function send(response: Response, result: RouteResult): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) response.setHeader(name, value);
  response.status(result.status);
  if (result.body === undefined) response.end();
  else if (result.contentType !== undefined) response.type(result.contentType).send(result.body);
  else response.json(result.body);
}

function groupByPath(routes: readonly Route[]): Map<string, Route[]> {
  const groups = new Map<string, Route[]>();
  for (const route of routes) groups.set(route.path, [...(groups.get(route.path) ?? []), route]);
  return groups;
}

function allowedMethods(routes: readonly Route[]): string[] {
  const methods = new Set(routes.map((route) => route.method.toUpperCase()));
  if (methods.has('GET')) methods.add('HEAD');
  methods.add('OPTIONS');
  return [...methods];
}

/** Route tables are code: a mistake in one is a start-up failure, not a surprise at run time. */
function checkRoutes(routes: readonly Route[]): void {
  const seen = new Set<string>();
  const operationIds = new Set<string>();
  for (const route of routes) {
    if (!route.path.startsWith('/')) throw new Error(`route ${route.operationId}: path "${route.path}" must start with /`);
    const key = `${route.method.toUpperCase()} ${route.path}`;
    if (seen.has(key)) throw new Error(`route ${key} is defined twice`);
    if (operationIds.has(route.operationId)) throw new Error(`operationId "${route.operationId}" is used twice`);
    seen.add(key);
    operationIds.add(route.operationId);
  }
}

const MOUNT_PATH = /^(\/[A-Za-z0-9._~%-]+)+$/;

/** Mounts are fixed prefixes (bounded metric labels) that never hide a declarative route. */
function checkMounts(mounts: readonly HttpMount[], routes: readonly Route[]): void {
  const seen = new Set<string>();
  for (const mount of mounts) {
    if (!MOUNT_PATH.test(mount.path)) {
      throw new Error(`mount "${mount.path}": a mount path is a fixed prefix such as /identity (no trailing /, no parameters)`);
    }
    if (seen.has(mount.path)) throw new Error(`mount "${mount.path}" is defined twice`);
    seen.add(mount.path);
    const shadowed = routes.find((route) => route.path === mount.path || route.path.startsWith(`${mount.path}/`));
    if (shadowed !== undefined) throw new Error(`mount "${mount.path}" would shadow route ${shadowed.method.toUpperCase()} ${shadowed.path}`);
  }
}

function builtInRoutes(options: HttpAppOptions, lifecycle: Lifecycle, openApiDocument: () => unknown): Route[] {
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 2_000;
  const checks = options.readiness ?? [];
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      operationId: 'getHealth',
      summary: 'Liveness: the process is up and serving',
      tags: ['operations'],
      scope: 'public',
      responses: { 200: { description: 'Alive' } },
      handler: () => ({ status: 200, body: { status: 'ok' } }),
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      operationId: 'getReadiness',
      summary: 'Readiness: dependencies reachable and not shutting down',
      tags: ['operations'],
      scope: 'public',
      responses: { 200: { description: 'Ready, with each check' }, 503: { description: 'Not ready, naming the failed checks' } },
      handler: async ({ correlationId, log }) => {
        if (lifecycle.draining) return notReady(correlationId, 'the service is shutting down', {});
        const report = await runReadinessChecks(checks, readinessTimeoutMs);
        // Shutdown may have begun while the checks ran; an answer given after that is "not ready".
        if (lifecycle.draining) return notReady(correlationId, 'the service is shutting down', report.checks);
        if (report.ready) return { status: 200, body: { status: 'ready', checks: report.checks } };
        for (const { name, error } of report.errors) log.warn({ check: name, err: error }, 'readiness check failed');
        const failed = Object.entries(report.checks)
          .filter(([, outcome]) => outcome.status === 'failed')
          .map(([name]) => name);
        return notReady(correlationId, `not ready: ${failed.join(', ')}`, report.checks);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      summary: 'Prometheus metrics',
      tags: ['operations'],
      scope: 'public',
      responses: { 200: { description: 'Prometheus text exposition' } },
      handler: async () => ({ status: 200, contentType: options.metrics.contentType, body: await options.metrics.metrics() }),
    }),
    defineRoute({
      method: 'get',
      path: '/openapi.json',
      operationId: 'getOpenApi',
      summary: 'This OpenAPI document',
      tags: ['operations'],
      scope: 'public',
      responses: { 200: { description: 'OpenAPI 3.1' } },
      handler: () => ({ status: 200, body: openApiDocument() }),
    }),
  ];

  function notReady(correlationId: string, detail: string, checksReport: object): RouteResult {
    return {
      status: 503,
      contentType: PROBLEM_CONTENT_TYPE,
      body: JSON.stringify({
        type: `${PROBLEM_TYPE_BASE}unavailable`,
        title: PROBLEM_TITLES.unavailable,
        status: 503,
        detail,
        instance: '/readyz',
        code: 'unavailable',
        correlationId,
        checks: checksReport,
      }),
    };
  }
}
