/**
 * The simulator's own control API under `/_sim/` (JSON in and out, errors as
 * `application/problem+json` through the platform's mapper): inspect the clouds, inject and heal
 * faults, read the timeline, run scenarios, reset.
 */
import { randomUUID } from 'node:crypto';
import { contractErrorMap, makeDurationSchema } from '@defib/contracts';
import { AppError, CORRELATION_HEADER, PROBLEM_CONTENT_TYPE, fieldIssuesFromZod, toProblem } from '@defib/platform';
import express from 'express';
import type { ErrorRequestHandler, Request, Response, Router } from 'express';
import { z } from 'zod';
import type { Cloud } from '../cloud/cloud.ts';
import { ec2State } from '../cloud/ec2-state.ts';
import { novaState } from '../cloud/nova-state.ts';
import type { Vm } from '../cloud/vm.ts';
import type { FaultEngine } from '../faults/fault-engine.ts';
import { faultSpecSchema } from '../faults/fault-spec.ts';
import { UnknownTargetError } from '../faults/fault-target.ts';
import { ScenarioError, loadScenario } from '../scenarios/scenario-loader.ts';
import type { ScenarioRunner } from '../scenarios/scenario-runner.ts';
import type { Timeline } from '../timeline/timeline.ts';

function vmView(vm: Readonly<Vm>, cloud: Cloud): object {
  return {
    id: vm.id,
    name: vm.name,
    phase: vm.state.phase,
    task: vm.state.task,
    providerState: cloud.provider === 'openstack' ? novaState(vm.state) : ec2State(vm.state),
    image: vm.imageId,
    flavor: vm.flavorId,
    zone: vm.zone,
    host: vm.host,
    addresses: vm.addresses.map(({ network, address, kind }) => ({ network, address, kind })),
    tags: vm.tags,
    metadata: vm.metadata,
    hasUserData: vm.userData !== null,
    createdAt: new Date(vm.createdAt).toISOString(),
    updatedAt: new Date(vm.updatedAt).toISOString(),
    launchedAt: vm.launchedAt === null ? null : new Date(vm.launchedAt).toISOString(),
    deletedAt: vm.deletedAt === null ? null : new Date(vm.deletedAt).toISOString(),
  };
}

/** A JSON view of one cloud, for `/_sim/clouds`. */
export function cloudView(cloud: Cloud): object {
  return {
    name: cloud.name,
    provider: cloud.provider,
    region: cloud.region,
    zones: cloud.config.zones,
    images: cloud.images.map(({ id, name }) => ({ id, name })),
    flavors: cloud.flavors,
    networks: cloud.networks.map((network) => ({ id: network.id, name: network.name, fixedCidr: network.config.fixedCidr, floatingCidr: network.config.floatingCidr ?? null })),
    vms: cloud.list().map((vm) => vmView(vm, cloud)),
    floatingAddresses: cloud.floatingAddresses(),
  };
}

export interface ControlRouterOptions {
  clouds: () => readonly Cloud[];
  /** Back to the simulator as configured: no VMs, no faults, an empty timeline, no scenario. */
  reset: () => void;
  faults: FaultEngine;
  timeline: Timeline;
  scenarios: ScenarioRunner;
}

const BODY_LIMIT = '1mb';

/** A time filter of the timeline: milliseconds of cloud time, or a duration (`90s`). */
const simTimeSchema = z.union([z.string().regex(/^[0-9]{1,15}$/, 'must be milliseconds or a duration such as 90s').transform(Number), makeDurationSchema({ allowZero: true })]);

const timelineQuerySchema = z.strictObject({
  type: z.string().max(1_000).optional(),
  cloud: z.string().max(255).optional(),
  vm: z.string().max(255).optional(),
  assembly: z.string().max(255).optional(),
  fault: z.string().max(255).optional(),
  since: simTimeSchema.optional(),
  until: simTimeSchema.optional(),
});

const faultListQuerySchema = z.strictObject({ state: z.enum(['active', 'healed', 'completed']).optional() });

function parseInput<S extends z.ZodType>(schema: S, input: unknown, location: 'body' | 'query'): z.output<S> {
  const result = schema.safeParse(input ?? (location === 'body' ? undefined : {}), { error: contractErrorMap });
  if (!result.success) throw AppError.validation(fieldIssuesFromZod(result.error.issues, location));
  return result.data;
}

function send(res: Response, status: number, body: unknown): void {
  res.status(status).json(body);
}

export function createControlRouter(options: ControlRouterOptions): Router {
  const { faults, timeline, scenarios } = options;
  const router = express.Router();
  router.use((req, res, next) => {
    const correlationId = acceptCorrelation(req);
    res.locals.correlationId = correlationId;
    res.set(CORRELATION_HEADER, correlationId);
    next();
  });

  router.get('/clouds', (_req, res) => {
    res.json({ clouds: options.clouds().map(cloudView) });
  });
  router.post('/reset', (_req, res) => {
    options.reset();
    res.status(204).end();
  });

  router.post('/faults', express.json({ limit: BODY_LIMIT, type: () => true }), (req, res) => {
    const spec = parseInput(faultSpecSchema, req.body, 'body');
    let fault;
    try {
      fault = faults.inject(spec, { source: 'api' });
    } catch (error) {
      if (error instanceof UnknownTargetError) throw new AppError('not_found', `${error.field}: ${error.message}`, { issues: [{ path: error.field, message: error.message }] });
      throw error;
    }
    res.location(`${req.baseUrl}/faults/${fault.id}`);
    send(res, 201, fault);
  });
  router.get('/faults', (req, res) => {
    const query = parseInput(faultListQuerySchema, req.query, 'query');
    send(res, 200, { faults: faults.list(query.state === undefined ? {} : { state: query.state }) });
  });
  router.get('/faults/:id', (req, res) => {
    const fault = faults.get(req.params.id);
    if (!fault) throw AppError.notFound('fault', req.params.id);
    send(res, 200, fault);
  });
  router.delete('/faults/:id', (req, res) => {
    const fault = faults.heal(req.params.id);
    if (!fault) throw AppError.notFound('fault', req.params.id);
    send(res, 200, fault);
  });

  router.get('/timeline', (req, res) => {
    const query = parseInput(timelineQuerySchema, req.query, 'query');
    const types = query.type
      ?.split(',')
      .map((type) => type.trim())
      .filter((type) => type !== '');
    const entries = timeline.entries({
      ...(types === undefined ? {} : { types }),
      ...(query.cloud === undefined ? {} : { cloud: query.cloud }),
      ...(query.vm === undefined ? {} : { vm: query.vm }),
      ...(query.assembly === undefined ? {} : { assembly: query.assembly }),
      ...(query.fault === undefined ? {} : { fault: query.fault }),
      ...(query.since === undefined ? {} : { sinceMs: query.since }),
      ...(query.until === undefined ? {} : { untilMs: query.until }),
    });
    send(res, 200, {
      origin: timeline.origin,
      now: timeline.now(),
      dropped: timeline.dropped,
      entries,
      assemblies: timeline.assemblies(query.assembly === undefined ? {} : { assembly: query.assembly }),
    });
  });

  router.post('/scenarios', express.text({ limit: BODY_LIMIT, type: () => true }), (req, res) => {
    const text: unknown = req.body;
    if (typeof text !== 'string' || text.trim() === '') throw AppError.validation([{ path: 'body', message: 'is required: a scenario as YAML or JSON' }]);
    try {
      const { scenario, locate } = loadScenario(text);
      send(res, 201, scenarios.run(scenario, locate));
    } catch (error) {
      if (error instanceof ScenarioError) {
        const issues = error.issues.map((issue) => ({ ...issue, path: issue.path === '' ? 'body' : issue.path }));
        throw AppError.validation(issues, error.message);
      }
      throw error;
    }
  });
  router.get('/scenarios/current', (_req, res) => {
    const current = scenarios.current();
    if (!current) throw AppError.notFound('scenario', 'current');
    send(res, 200, current);
  });

  router.use((req, _res, next) => {
    next(new AppError('not_found', `No control endpoint ${req.method} ${req.originalUrl.split('?')[0] ?? ''}`));
  });
  const handleError: ErrorRequestHandler = (error: unknown, req, res, _next) => {
    const correlationId = typeof res.locals.correlationId === 'string' ? res.locals.correlationId : acceptCorrelation(req);
    const problem = toProblem(error, { instance: req.originalUrl.split('?')[0] ?? req.originalUrl, correlationId });
    res.status(problem.status).set(problem.headers).type(PROBLEM_CONTENT_TYPE).json(problem.body);
  };
  router.use(handleError);
  return router;
}

function acceptCorrelation(req: Request): string {
  const header = req.get(CORRELATION_HEADER)?.trim();
  return header !== undefined && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : randomUUID();
}
