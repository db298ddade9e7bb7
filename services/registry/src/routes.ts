/** The registry's HTTP API under /v1. */
import { cloudConnectionSchema, cloudRegistrationSchema, durationSchema, publicCloudSchema, validateManifest, type ManifestValidation } from '@defib/contracts';
import { AppError, defineRoute, type BodyParser, type Route } from '@defib/platform';
import { z } from 'zod';
import type { CloudChecks } from './cloud-checks.ts';
import type { CloudCatalogue } from './clouds.ts';
import type { DeployableCatalogue } from './deployables.ts';
import type { MaintenanceDesk, MaintenanceTarget } from './maintenance.ts';
import { unactedStartNotice } from './start-request.ts';
import type { DeployableStatus } from './status-projection.ts';

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const NAME_MESSAGE = 'must start with a lower-case letter and hold only lower-case letters, digits and dashes (at most 63)';
const nameParams = z.strictObject({ name: z.string().regex(NAME, NAME_MESSAGE) });

/**
 * A manifest as the body of `PUT /v1/deployables/{name}`: what the user wrote and what validating
 * it gave. Problems are not thrown here, so the handler can add the ones only the database knows
 * (an unregistered cloud) and report them all at once.
 */
interface ManifestBody {
  validation: ManifestValidation;
  written: unknown;
}

const manifestBody: BodyParser<ManifestBody> = {
  parse(raw) {
    if (raw === undefined) throw AppError.validation([{ path: 'body', message: 'is required: send the manifest as JSON or YAML' }], 'the request has no manifest');
    return { validation: validateManifest(raw), written: raw };
  },
  jsonSchema: { type: 'object', description: 'A deployable manifest (apiVersion defib/v1, kind Deployable); see the README.' },
};

/** A whole number in a query string, with a message that says so (not "received NaN"). */
function wholeNumberQuery(range: { min: number; max: number; default: number }) {
  const message = `must be a whole number from ${range.min} to ${range.max}`;
  return z
    .string()
    .regex(/^\d{1,6}$/, message)
    .transform(Number)
    .pipe(z.number().min(range.min, message).max(range.max, message))
    .default(range.default);
}

const deployableSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  cloud: z.string(),
  version: z.int(),
  desiredState: z.enum(['running', 'stopped']),
  manifest: z.unknown(),
  effectiveManifest: z.unknown(),
  assemblies: z.array(z.object({ id: z.uuid(), name: z.string(), resources: z.array(z.object({ id: z.uuid(), name: z.string() })) })),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Only in the answer to an apply whose images and flavors could not be checked against the cloud (it was unreachable). */
  warnings: z.array(z.string()).optional(),
});

const listQuery = z.strictObject({
  cloud: z.string().regex(NAME, NAME_MESSAGE).optional(),
  limit: wholeNumberQuery({ min: 1, max: 200, default: 50 }),
  cursor: z.string().regex(NAME, 'must be the nextCursor of a previous page').optional(),
});

const problem = (description: string) => ({ description });

/** `POST /v1/deployables/{name}/start` and `/stop`: record the desired state; recovery acts on it. */
function desiredStateRoute(action: 'start' | 'stop', deployables: DeployableCatalogue): Route {
  return defineRoute({
    method: 'post',
    path: `/v1/deployables/:name/${action}`,
    operationId: `${action}Deployable`,
    summary: `Ask for a deployable to ${action === 'start' ? 'run' : 'stop'}`,
    tags: ['deployables'],
    scope: 'write',
    params: nameParams,
    responses: { 202: { description: 'Desired state recorded', schema: deployableSchema }, 404: problem('No such deployable') },
    async handler({ params, correlationId }) {
      const { deployable } = await deployables[action](params.name, correlationId);
      return { status: 202, body: deployable };
    },
  });
}

const maintenanceWindowSchema = z.object({ since: z.string(), until: z.string().optional(), reason: z.string().optional() });

const maintenanceStateSchema = z.object({
  deployable: z.string(),
  /** The deployable's own maintenance; null when it is not in maintenance. */
  maintenance: maintenanceWindowSchema.nullable(),
  /** Each assembly in maintenance, by name; assemblies not in maintenance are absent. */
  assemblies: z.record(z.string(), maintenanceWindowSchema),
});

/** The body of a maintenance PUT: optional; an end (`until`) or a length (`for`), not both; neither means until asked to end. */
const maintenanceBody = z
  .strictObject({
    until: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, such as 2026-12-02T18:00:00Z' }).optional(),
    for: durationSchema.optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .optional();

const MAINTENANCE_DESCRIPTION =
  'While in maintenance, failures are still observed and reported but not recovered. The body is optional: `{"until": "<ISO 8601 time>"}` or `{"for": "30m"}` ends it by itself (announced with `ended: expired`), neither lasts until DELETE; `reason` is carried in the event. Answers the maintenance state `{deployable, maintenance: {since, until?, reason?} | null, assemblies: {<name>: {since, until?, reason?}}}`. Entering announces `<deployable|assembly>.maintenance-entered`; asking again with the same until and reason changes nothing and announces nothing, a new until or reason keeps `since` and announces again (a `for` always gives a new until).';

/** `PUT` and `DELETE` of the maintenance of a deployable (no `:assembly`) or of one of its assemblies. */
function maintenanceRoutes(level: 'deployable' | 'assembly', maintenance: MaintenanceDesk): Route[] {
  const path = level === 'deployable' ? '/v1/deployables/:name/maintenance' : '/v1/deployables/:name/assemblies/:assembly/maintenance';
  const params = level === 'deployable' ? nameParams : nameParams.extend({ assembly: z.string().regex(NAME, NAME_MESSAGE) });
  const targetOf = (values: { name: string; assembly?: string }): MaintenanceTarget => ({ deployable: values.name, assembly: values.assembly });
  const Level = level === 'deployable' ? 'Deployable' : 'Assembly';
  const missing = level === 'deployable' ? 'No such deployable' : 'No such deployable or assembly';
  return [
    defineRoute({
      method: 'put',
      path,
      operationId: `enter${Level}Maintenance`,
      summary: `Put a ${level} in maintenance: its failures are reported, not recovered`,
      description: MAINTENANCE_DESCRIPTION,
      tags: ['maintenance'],
      scope: 'write',
      params,
      body: maintenanceBody,
      responses: {
        200: { description: 'Already in maintenance (until or reason updated, or unchanged)', schema: maintenanceStateSchema },
        201: { description: 'Entered maintenance', schema: maintenanceStateSchema },
        400: problem('A malformed or past until, a bad duration, or both until and for'),
        404: problem(missing),
      },
      async handler({ params: values, body, correlationId }) {
        const { state, outcome } = await maintenance.enter(targetOf(values), { until: body?.until, forMs: body?.for, reason: body?.reason }, correlationId);
        return { status: outcome === 'entered' ? 201 : 200, body: state, headers: { 'Defib-Maintenance-Outcome': outcome } };
      },
    }),
    defineRoute({
      method: 'delete',
      path,
      operationId: `leave${Level}Maintenance`,
      summary: `End a ${level}'s maintenance: its failures are recovered again`,
      description: `Announces \`${level}.maintenance-left\` with \`ended: requested\` and answers the maintenance state. A ${level} not in maintenance is a 404 and announces nothing.`,
      tags: ['maintenance'],
      scope: 'write',
      params,
      responses: { 200: { description: 'Maintenance ended', schema: maintenanceStateSchema }, 404: problem(`${missing}, or not in maintenance`) },
      async handler({ params: values, correlationId }) {
        return { status: 200, body: await maintenance.leave(targetOf(values), correlationId) };
      },
    }),
  ];
}

export interface RegistryRouteDependencies {
  clouds: CloudCatalogue;
  checks: CloudChecks;
  deployables: DeployableCatalogue;
  maintenance: MaintenanceDesk;
  status: (name: string, recentLimit: number) => Promise<DeployableStatus>;
  /** How long a start request may wait for recovery before the status says nothing has acted on it. */
  unactedStartAfterMs: number;
  now: () => Date;
}

/** The answer's body with the warnings a check raised, if it raised any. */
function withWarnings<T extends object>(body: T, warnings: readonly string[]): T & { warnings?: string[] } {
  return warnings.length === 0 ? body : { ...body, warnings: [...warnings] };
}

export function registryRoutes({ clouds, checks, deployables, maintenance, status, unactedStartAfterMs, now }: RegistryRouteDependencies): Route[] {
  return [
    defineRoute({
      method: 'put',
      path: '/v1/clouds/:name',
      operationId: 'putCloud',
      summary: 'Register a cloud, or replace its registration',
      tags: ['clouds'],
      scope: 'write',
      params: nameParams,
      body: cloudRegistrationSchema,
      description:
        'The cloud is asked first: credentials it refuses, or a region or endpoint it does not have, are a 422 naming the problem. When it cannot be reached the registration is stored with `warnings`, and checked again at launch.',
      responses: {
        200: { description: 'Replaced', schema: publicCloudSchema },
        201: { description: 'Registered', schema: publicCloudSchema },
        400: problem('Invalid registration'),
        422: problem('The cloud refused the registration'),
      },
      async handler({ params, body, correlationId }) {
        const warnings = await checks.registration(params.name, body);
        const { cloud, created } = await clouds.register(params.name, body, correlationId);
        return { status: created ? 201 : 200, body: withWarnings(cloud, warnings) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/clouds',
      operationId: 'listClouds',
      summary: 'List registered clouds (never their credentials)',
      tags: ['clouds'],
      scope: 'read',
      responses: { 200: { description: 'The clouds', schema: z.object({ items: z.array(publicCloudSchema) }) } },
      async handler() {
        return { status: 200, body: { items: await clouds.list() } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/clouds/:name',
      operationId: 'getCloud',
      summary: 'Show one registered cloud (never its credentials)',
      tags: ['clouds'],
      scope: 'read',
      params: nameParams,
      responses: { 200: { description: 'The cloud', schema: publicCloudSchema }, 404: problem('No such cloud') },
      async handler({ params }) {
        return { status: 200, body: await clouds.get(params.name) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/clouds/:name/connection',
      operationId: 'getCloudConnection',
      summary: "A cloud's full registration, credentials included, for Defib's own services",
      description:
        'Service scope: a token from DEFIB_SERVICE_TOKENS (or the admin token); read tokens get 403, open reads do not apply. The monitor and recovery keep a sealed copy and refresh it on cloud.registered and cloud.removed.',
      tags: ['clouds'],
      scope: 'service',
      params: nameParams,
      responses: { 200: { description: 'The registration with its credentials', schema: cloudConnectionSchema }, 404: problem('No such cloud') },
      async handler({ params }) {
        return { status: 200, body: await clouds.connection(params.name), headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/clouds/:name',
      operationId: 'deleteCloud',
      summary: 'Remove a cloud registration; refused while deployables use it',
      tags: ['clouds'],
      scope: 'write',
      params: nameParams,
      responses: { 204: { description: 'Removed' }, 404: problem('No such cloud'), 409: problem('Deployables use this cloud') },
      async handler({ params, correlationId }) {
        await clouds.remove(params.name, correlationId);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/deployables/:name',
      operationId: 'applyDeployable',
      summary: 'Apply a deployable manifest (JSON or YAML); idempotent',
      description:
        "Stores the manifest. Applying the same manifest again changes nothing; a changed manifest gets the next version. The images, flavors and networks it names are checked against the cloud's offerings (a 400 naming the field and what the cloud offers); when the cloud cannot be reached the manifest is stored with `warnings`.",
      tags: ['deployables'],
      scope: 'write',
      params: nameParams,
      body: manifestBody,
      bodyFormats: ['json', 'yaml'],
      responses: {
        200: { description: 'Updated or unchanged', schema: deployableSchema },
        201: { description: 'Created', schema: deployableSchema },
        400: problem('Invalid manifest; every issue is named'),
      },
      async handler({ params, body, correlationId }) {
        const { validation, written } = body;
        const issues = validation.ok ? [] : [...validation.issues];
        const named = typeof written === 'object' && written !== null ? (written as { name?: unknown; cloud?: unknown }) : {};
        if (typeof named.name === 'string' && named.name !== params.name) issues.push({ path: 'name', message: `must match the name in the path (${params.name})` });
        const cloudName = typeof named.cloud === 'string' && !issues.some((issue) => issue.path === 'cloud') ? named.cloud : undefined;
        // Read once: it says whether the cloud is registered and is what the manifest is checked against.
        const registration = cloudName === undefined ? undefined : await clouds.find(cloudName);
        if (cloudName !== undefined && registration === undefined) issues.push({ path: 'cloud', message: `no cloud named ${cloudName} is registered` });
        // A valid manifest has a cloud name, so `registration` is only missing along with an issue.
        if (!validation.ok || issues.length > 0 || registration === undefined) throw AppError.validation(issues, 'the manifest is not valid');
        const { manifest } = validation;
        const offered = await checks.manifest(manifest.cloud, registration, manifest);
        if (offered.issues.length > 0) throw AppError.validation(offered.issues, `the manifest names what cloud ${manifest.cloud} does not offer`);
        const { deployable, outcome } = await deployables.apply(params.name, manifest, written, correlationId);
        return { status: outcome === 'created' ? 201 : 200, body: withWarnings(deployable, offered.warnings), headers: { 'Defib-Apply-Outcome': outcome } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/deployables',
      operationId: 'listDeployables',
      summary: 'List deployables by name, a page at a time',
      tags: ['deployables'],
      scope: 'read',
      query: listQuery,
      responses: { 200: { description: 'A page', schema: z.object({ items: z.array(deployableSchema), nextCursor: z.string().nullable() }) } },
      async handler({ query }) {
        const items = await deployables.list({ cloud: query.cloud, after: query.cursor, limit: query.limit + 1 });
        const page = items.slice(0, query.limit);
        const nextCursor = items.length > query.limit ? (page.at(-1)?.name ?? null) : null;
        return { status: 200, body: { items: page, nextCursor } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/deployables/:name',
      operationId: 'getDeployable',
      summary: 'Show one deployable with its manifest and ids',
      tags: ['deployables'],
      scope: 'read',
      params: nameParams,
      responses: { 200: { description: 'The deployable', schema: deployableSchema }, 404: problem('No such deployable') },
      async handler({ params }) {
        return { status: 200, body: await deployables.get(params.name) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/deployables/:name',
      operationId: 'deleteDeployable',
      summary: 'Delete a deployable; refused while it should run unless forced',
      tags: ['deployables'],
      scope: 'write',
      params: nameParams,
      query: z.strictObject({ force: z.enum(['true', 'false']).default('false').transform((value) => value === 'true') }),
      responses: { 204: { description: 'Deleted' }, 404: problem('No such deployable'), 409: problem('Running; stop it first or force') },
      async handler({ params, query, correlationId }) {
        await deployables.remove(params.name, { force: query.force }, correlationId);
        return { status: 204 };
      },
    }),
    desiredStateRoute('start', deployables),
    desiredStateRoute('stop', deployables),
    defineRoute({
      method: 'get',
      path: '/v1/deployables/:name/maintenance',
      operationId: 'getMaintenance',
      summary: 'Show the maintenance of a deployable and of its assemblies',
      tags: ['maintenance'],
      scope: 'read',
      params: nameParams,
      responses: { 200: { description: 'The maintenance state', schema: maintenanceStateSchema }, 404: problem('No such deployable') },
      async handler({ params }) {
        return { status: 200, body: await maintenance.state(params.name) };
      },
    }),
    ...maintenanceRoutes('deployable', maintenance),
    ...maintenanceRoutes('assembly', maintenance),
    defineRoute({
      method: 'get',
      path: '/v1/deployables/:name/status',
      operationId: 'getDeployableStatus',
      summary: 'Desired and observed state of a deployable, its assemblies and resources',
      description: 'A projection of the events the monitor and recovery publish: instance ids, addresses, open incidents and recent events.',
      tags: ['deployables'],
      scope: 'read',
      params: nameParams,
      query: z.strictObject({ events: wholeNumberQuery({ min: 0, max: 50, default: 20 }) }),
      responses: { 200: { description: 'The status' }, 404: problem('No such deployable') },
      async handler({ params, query }) {
        const current = await status(params.name, query.events);
        const { updatedAt } = await deployables.get(params.name);
        return { status: 200, body: { ...current, notice: unactedStartNotice(current, new Date(updatedAt), now(), unactedStartAfterMs) } };
      },
    }),
  ];
}
