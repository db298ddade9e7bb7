/**
 * The simulator's own control API under `/_sim/`, declared like every Defib route (validated
 * input, problem+json errors through the platform's one mapper, described in `/openapi.json`):
 * inspect the clouds and the agents, inject and heal faults, read the timeline, run scenarios,
 * reset.
 */
import { makeDurationSchema } from '@defib/contracts';
import { AppError, defineRoute, type BodyParser, type Route, type RouteScope } from '@defib/platform';
import { z } from 'zod';
import type { AgentSnapshot } from '../agents/agent-controls.ts';
import type { AgentRuntime } from '../agents/agent-runtime.ts';
import type { Cloud } from '../cloud/cloud.ts';
import { ec2State } from '../cloud/ec2-state.ts';
import { novaState } from '../cloud/nova-state.ts';
import type { Vm } from '../cloud/vm.ts';
import type { FaultEngine } from '../faults/fault-engine.ts';
import { faultSpecSchema } from '../faults/fault-spec.ts';
import { UnknownTargetError } from '../faults/fault-target.ts';
import { loadScenario, ScenarioError, validateScenario } from '../scenarios/scenario-loader.ts';
import type { ScenarioRunner } from '../scenarios/scenario-runner.ts';
import { scenarioSchema, type Scenario } from '../scenarios/scenario-schema.ts';
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

/** A JSON view of one agent: simulated-clock instants as ISO times, a partition until healed as `partitioned` without an end. */
export function agentView(snapshot: AgentSnapshot): object {
  const until = snapshot.partitionedUntil ?? null;
  const instant = (ms: number | null | undefined): string | null => (ms === null || ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString());
  return {
    vmId: snapshot.vmId,
    assemblyId: snapshot.assemblyId,
    bootId: snapshot.bootId,
    sequence: snapshot.sequence,
    silent: snapshot.silent,
    hung: snapshot.hung ?? false,
    partitioned: until !== null,
    partitionedUntil: instant(until),
    nextBeatAt: instant(snapshot.nextBeatAt),
    resources: snapshot.resources,
  };
}

export interface ControlRoutesOptions {
  clouds: () => readonly Cloud[];
  /** Back to the simulator as configured: no VMs, no faults, an empty timeline, no scenario. */
  reset: () => void;
  agents: AgentRuntime;
  faults: FaultEngine;
  timeline: Timeline;
  scenarios: ScenarioRunner;
  /**
   * Who may call: `public` for both when the simulator runs open (a local rehearsal tool, the
   * default), `read` and `write` when it is given tokens like every other Defib service.
   */
  scopes: { read: RouteScope; write: RouteScope };
}

/** A time filter of the timeline: milliseconds of cloud time, or a duration (`90s`). */
const simTimeSchema = z.union([z.string().regex(/^[0-9]{1,15}$/, 'must be milliseconds or a duration such as 90s').transform(Number), makeDurationSchema({ allowZero: true })]);

const timelineQuerySchema = z.strictObject({
  type: z.string().max(1_000).optional().describe('Entry types, comma-separated: fault.injected,vm.transition'),
  cloud: z.string().max(255).optional(),
  vm: z.string().max(255).optional(),
  assembly: z.string().max(255).optional().describe('Assembly id or name'),
  fault: z.string().max(255).optional(),
  since: simTimeSchema.optional().describe('From this much cloud time since the origin: milliseconds or a duration'),
  until: simTimeSchema.optional().describe('Up to this much cloud time since the origin: milliseconds or a duration'),
});

const faultListQuerySchema = z.strictObject({ state: z.enum(['active', 'healed', 'completed']).optional() });
const faultParamsSchema = z.object({ id: z.string().max(255) });
const agentListQuerySchema = z.strictObject({
  vm: z.string().max(255).optional().describe('Only the agent of this VM'),
  assembly: z.string().max(255).optional().describe('Only the agents of this assembly (id or name)'),
});
const agentParamsSchema = z.object({ vmId: z.string().max(255) });

/**
 * A scenario body, YAML or JSON: validated by the scenario loader's rules, every problem naming
 * its field (`faults[1].at`; `body` for the document as a whole).
 */
const scenarioBody: BodyParser<Scenario> = {
  parse: (raw) => asProblem(() => validateScenario(raw)),
  // the text gives every issue its line and column, as for a scenario file
  parseWithSource: (_raw, source) => asProblem(() => loadScenario(source.text).scenario),
  jsonSchema: z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }),
};

function asProblem(validate: () => Scenario): Scenario {
  try {
    return validate();
  } catch (error) {
    if (error instanceof ScenarioError) throw scenarioProblem(error);
    throw error;
  }
}

function scenarioProblem(error: ScenarioError): AppError {
  const issues = error.issues.map((issue) => ({ ...issue, path: issue.path === '' ? 'body' : issue.path }));
  return AppError.validation(issues, error.message);
}

export function controlRoutes(options: ControlRoutesOptions): Route[] {
  const { agents, faults, timeline, scenarios, scopes } = options;
  const tags = ['simulator'];
  return [
    defineRoute({
      method: 'get',
      path: '/_sim/clouds',
      operationId: 'listSimulatedClouds',
      summary: 'The simulated clouds with their images, flavors, networks and VMs',
      tags,
      scope: scopes.read,
      responses: { 200: { description: '`{ clouds: [...] }`, in configuration order' } },
      handler: () => ({ status: 200, body: { clouds: options.clouds().map(cloudView) } }),
    }),
    defineRoute({
      method: 'post',
      path: '/_sim/reset',
      operationId: 'resetSimulator',
      summary: 'A fresh world with the configured seed: no VMs, no faults, an empty timeline, no scenario',
      tags,
      scope: scopes.write,
      responses: { 204: { description: 'Reset' } },
      handler: () => {
        options.reset();
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/_sim/agents',
      operationId: 'listSimulatedAgents',
      summary: 'The running in-guest agents: sequence, silence, partition, resources',
      tags,
      scope: scopes.read,
      query: agentListQuerySchema,
      responses: { 200: { description: '`{ agents: [...] }`' } },
      handler: ({ query }) => ({ status: 200, body: { agents: agents.snapshots(definedOnly(query)).map(agentView) } }),
    }),
    defineRoute({
      method: 'get',
      path: '/_sim/agents/:vmId',
      operationId: 'getSimulatedAgent',
      summary: 'The running agent of one VM',
      tags,
      scope: scopes.read,
      params: agentParamsSchema,
      responses: { 200: { description: 'The agent' }, 404: { description: 'No agent runs on that VM (none configured, or the VM is down)' } },
      handler: ({ params }) => {
        const snapshot = agents.snapshot(params.vmId);
        if (!snapshot) throw AppError.notFound('agent of VM', params.vmId);
        return { status: 200, body: agentView(snapshot) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/_sim/faults',
      operationId: 'injectFault',
      summary: 'Inject a fault',
      description: 'Targeted by VM, assembly, host, zone, cloud or tag. An unknown target is a 404 naming the field.',
      tags,
      scope: scopes.write,
      body: faultSpecSchema,
      responses: { 201: { description: 'The fault, with the VMs it struck; `Location` names it' }, 404: { description: 'The target names nothing' } },
      handler: ({ body }) => {
        try {
          const fault = faults.inject(body, { source: 'api' });
          return { status: 201, headers: { Location: `/_sim/faults/${encodeURIComponent(fault.id)}` }, body: fault };
        } catch (error) {
          if (error instanceof UnknownTargetError) throw new AppError('not_found', `${error.field}: ${error.message}`, { issues: [{ path: error.field, message: error.message }] });
          throw error;
        }
      },
    }),
    defineRoute({
      method: 'get',
      path: '/_sim/faults',
      operationId: 'listFaults',
      summary: 'Every fault since the last reset, in injection order',
      tags,
      scope: scopes.read,
      query: faultListQuerySchema,
      responses: { 200: { description: '`{ faults: [...] }`' } },
      handler: ({ query }) => ({ status: 200, body: { faults: faults.list(query.state === undefined ? {} : { state: query.state }) } }),
    }),
    defineRoute({
      method: 'get',
      path: '/_sim/faults/:id',
      operationId: 'getFault',
      summary: 'One fault',
      tags,
      scope: scopes.read,
      params: faultParamsSchema,
      responses: { 200: { description: 'The fault' }, 404: { description: 'No such fault' } },
      handler: ({ params }) => {
        const fault = faults.get(params.id);
        if (!fault) throw AppError.notFound('fault', params.id);
        return { status: 200, body: fault };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/_sim/faults/:id',
      operationId: 'healFault',
      summary: 'Heal a fault (a fault already over is returned as it is)',
      tags,
      scope: scopes.write,
      params: faultParamsSchema,
      responses: { 200: { description: 'The fault, healed' }, 404: { description: 'No such fault' } },
      handler: ({ params }) => {
        const fault = faults.heal(params.id);
        if (!fault) throw AppError.notFound('fault', params.id);
        return { status: 200, body: fault };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/_sim/timeline',
      operationId: 'getTimeline',
      summary: 'The ground truth: faults and lifecycle transitions, and per-assembly running intervals with overlaps',
      tags,
      scope: scopes.read,
      query: timelineQuerySchema,
      responses: { 200: { description: '`{ origin, now, dropped, entries, assemblies }`' } },
      handler: ({ query }) => {
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
        return {
          status: 200,
          body: {
            origin: timeline.origin,
            now: timeline.now(),
            dropped: timeline.dropped,
            entries,
            assemblies: timeline.assemblies(query.assembly === undefined ? {} : { assembly: query.assembly }),
          },
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/_sim/scenarios',
      operationId: 'runScenario',
      summary: 'Run a scenario (YAML or JSON) from a fresh world under its seed, replacing any running one',
      description: 'A refused scenario leaves the running world alone; every problem names its field.',
      tags,
      scope: scopes.write,
      body: scenarioBody,
      bodyFormats: ['yaml', 'json'],
      responses: { 201: { description: 'The scenario, started' } },
      handler: ({ body }) => {
        try {
          return { status: 201, body: scenarios.run(body) };
        } catch (error) {
          if (error instanceof ScenarioError) throw scenarioProblem(error);
          throw error;
        }
      },
    }),
    defineRoute({
      method: 'get',
      path: '/_sim/scenarios/current',
      operationId: 'getCurrentScenario',
      summary: 'The scenario running (or last run since the reset), with its faults and VMs',
      tags,
      scope: scopes.read,
      responses: { 200: { description: 'The scenario' }, 404: { description: 'No scenario since the last reset' } },
      handler: () => {
        const current = scenarios.current();
        if (!current) throw AppError.notFound('scenario', 'current');
        return { status: 200, body: current };
      },
    }),
  ];
}

/** The filter without the parameters that were not given (exactOptionalPropertyTypes). */
function definedOnly(query: { vm?: string | undefined; assembly?: string | undefined }): { vm?: string; assembly?: string } {
  return { ...(query.vm === undefined ? {} : { vm: query.vm }), ...(query.assembly === undefined ? {} : { assembly: query.assembly }) };
}
