/**
 * A drill scenario, as its YAML file states it: the simulated clouds, the deployables to run (by
 * file or inline), the faults to inject into them at fixed or seeded-random times, the disruptions
 * of Defib's own processes (the chaos suite), and what must hold at the end: which faults recover,
 * which give up, and the SLOs on detection and recovery times.
 *
 * Faults are targeted by names (`deployable`, `assembly`, `resource`) that the runner resolves to
 * the registry's ids; their parameters are the simulator's (`kind`, `duration`, `failAfter`, …),
 * validated by the simulator's own fault schema so the two never disagree.
 */
import { durationSchema, makeDurationSchema, nameSchema } from '@defib/contracts';
import { faultKinds, faultSpecSchema, apiFaultKinds, type FaultKind } from '@defib/simulator';
import { z } from 'zod';

const offsetSchema = makeDurationSchema({ allowZero: true });
const text = z.string().trim().min(1).max(255);

/** When something happens, from the moment every deployable runs: a fixed offset, or one drawn (seeded) from a window. */
export const drillTimeSchema = z.union([
  offsetSchema,
  z
    .strictObject({ between: z.tuple([offsetSchema, offsetSchema]) })
    .refine(({ between: [from, to] }) => from <= to, { path: ['between'], message: 'the window must not end before it starts' }),
]);
export type DrillTime = z.output<typeof drillTimeSchema>;

/** What a fault strikes: a deployable's assembly (and one of its resources), or a cloud's API. */
export const drillTargetSchema = z
  .strictObject({
    deployable: nameSchema.optional(),
    assembly: nameSchema.optional(),
    resource: nameSchema.optional(),
    /** A cloud's API (api-* faults), or the cloud whose VMs a lasting fault such as boot-failure strikes. */
    cloud: text.optional(),
    /** A hypervisor host (host-failure). */
    host: text.optional(),
  })
  .superRefine((target, ctx) => {
    if (target.assembly !== undefined && target.deployable === undefined) ctx.addIssue({ code: 'custom', path: ['deployable'], message: 'is required with assembly' });
    if (target.resource !== undefined && target.assembly === undefined) ctx.addIssue({ code: 'custom', path: ['assembly'], message: 'is required with resource' });
    if (target.deployable !== undefined && target.assembly === undefined && target.host === undefined) ctx.addIssue({ code: 'custom', path: ['assembly'], message: 'is required with deployable' });
    if (target.deployable === undefined && target.cloud === undefined) ctx.addIssue({ code: 'custom', path: [], message: 'needs deployable and assembly, or cloud' });
  });
export type DrillTarget = z.output<typeof drillTargetSchema>;

/**
 * What must become of a fault: `recovered` (detected, then its incidents closed recovered),
 * `gave-up` (recovery gave up on it), or `withstood` (a cloud API fault: nothing to recover, the
 * other faults recover through it). API faults default to `withstood`, the others to `recovered`.
 */
export const faultExpectations = ['recovered', 'gave-up', 'withstood'] as const;
export type FaultExpectation = (typeof faultExpectations)[number];

const resourceKinds: readonly FaultKind[] = ['resource-crash', 'resource-flap', 'resource-no-restart'];

/** The simulator fault a drill fault stands for, with a stand-in target: used to validate the kind's parameters. */
function standInSpec(fault: Record<string, unknown>, target: DrillTarget): Record<string, unknown> {
  const { at: _at, name: _name, expect: _expect, steps: _steps, target: _target, ...params } = fault;
  const kind = fault.kind as FaultKind;
  const simulatorTarget = (apiFaultKinds as readonly string[]).includes(kind) ? { cloud: target.cloud ?? 'cloud' } : kind === 'host-failure' ? { host: target.host ?? 'host' } : kind === 'boot-failure' || kind === 'slow-boot' ? { cloud: target.cloud ?? 'cloud' } : { vm: 'vm' };
  return { ...params, target: simulatorTarget, ...(resourceKinds.includes(kind) ? { resource: target.resource ?? 'resource' } : {}) };
}

/** One fault of a drill. Besides the fields below it takes its kind's parameters (`to`, `duration`, `failAfter`, `operations`, `rate`, …). */
export const drillFaultSchema = z
  .object({
    /** A label for reports; `<kind> <target>` when absent. */
    name: text.optional(),
    at: drillTimeSchema,
    kind: z.enum(faultKinds, { error: `must be one of ${faultKinds.join(', ')}` }),
    target: drillTargetSchema,
    expect: z.enum(faultExpectations).optional(),
    /** Ladder steps that must appear among the steps taken for it (e.g. `[recreate]`). */
    steps: z.array(z.enum(['restart-resource', 'reboot', 'hard-reboot', 'recreate', 'restart-deployable'])).max(10).optional(),
  })
  .catchall(z.unknown())
  .superRefine((fault, ctx) => {
    const isApi = (apiFaultKinds as readonly string[]).includes(fault.kind);
    if (resourceKinds.includes(fault.kind) && fault.target.resource === undefined) ctx.addIssue({ code: 'custom', path: ['target', 'resource'], message: `is required: ${fault.kind} strikes a resource` });
    if (isApi && fault.target.cloud === undefined) ctx.addIssue({ code: 'custom', path: ['target', 'cloud'], message: `is required: ${fault.kind} strikes a cloud's API` });
    if (isApi && fault.target.deployable !== undefined) ctx.addIssue({ code: 'custom', path: ['target', 'deployable'], message: `is not allowed: ${fault.kind} strikes a cloud's API` });
    if (fault.kind === 'host-failure' && fault.target.host === undefined) ctx.addIssue({ code: 'custom', path: ['target', 'host'], message: 'is required: host-failure strikes a host' });
    if (!isApi && fault.kind !== 'host-failure' && fault.kind !== 'boot-failure' && fault.kind !== 'slow-boot' && fault.target.assembly === undefined) ctx.addIssue({ code: 'custom', path: ['target', 'assembly'], message: `is required: ${fault.kind} strikes an assembly's VM` });
    const parsed = faultSpecSchema.safeParse(standInSpec(fault, fault.target));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        if (issue.path[0] === 'target') continue;
        if (issue.code === 'unrecognized_keys') for (const key of issue.keys) ctx.addIssue({ code: 'custom', path: [...issue.path, key], message: 'unknown field' });
        else ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      }
    }
  });
export type DrillFault = z.output<typeof drillFaultSchema>;

/** Defib's own parts the chaos suite disrupts. */
export const drillServices = ['registry', 'monitor', 'recovery', 'notifier'] as const;
export type DrillService = (typeof drillServices)[number];

/**
 * A disruption of Defib itself during a drill: a service process killed with SIGKILL (every replica,
 * or one) and started again `restartAfter` later; every broker connection of the drill's services
 * closed by the broker; every database connection of the drill's database terminated.
 */
export const disruptionSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('kill'),
      at: drillTimeSchema,
      service: z.enum(drillServices),
      /** Which replica (1-based); all of the service's replicas when absent. */
      replica: z.int().positive().max(3).optional(),
      restartAfter: offsetSchema.default(500),
      count: z.int().positive().max(20).default(1),
    }),
    z.strictObject({ kind: z.literal('broker-connections-closed'), at: drillTimeSchema, count: z.int().positive().max(20).default(1) }),
    z.strictObject({ kind: z.literal('database-connections-terminated'), at: drillTimeSchema, count: z.int().positive().max(20).default(1) }),
  ],
  { error: 'must be kill, broker-connections-closed or database-connections-terminated' },
);
export type Disruption = z.output<typeof disruptionSchema>;

const timingsSchema = z
  .strictObject({ build: durationSchema, reboot: durationSchema, hardReboot: durationSchema, stop: durationSchema, start: durationSchema, rebuild: durationSchema, delete: durationSchema, jitter: z.number().min(0).max(1), statusChecksAfter: durationSchema })
  .partial();

/**
 * A simulated cloud the drill registers with the registry under `name`: the simulator's cloud of
 * that name (`sim-openstack`, `sim-ec2`), with overrides of its hosts, timings and API rate limit.
 */
export const drillCloudSchema = z.strictObject({
  name: text,
  zones: z.array(z.strictObject({ name: text, hosts: z.array(text).min(1).max(1_000) })).min(1).max(20).optional(),
  timings: timingsSchema.optional(),
  maxInstances: z.int().positive().optional(),
  rateLimit: z.strictObject({ perSecond: z.number().positive(), burst: z.int().positive() }).optional(),
  /** Recovery's limit on actions in flight on this cloud (`RECOVERY_CLOUD_ACTIONS_BY_CLOUD`). */
  actionLimit: z.int().positive().max(1_000).optional(),
});
export type DrillCloud = z.output<typeof drillCloudSchema>;

/** A deployable: a manifest file (relative to the scenario's file) or a manifest written inline, applied through the registry's API. */
export const drillDeployableSchema = z.union([z.strictObject({ file: text }), z.strictObject({ manifest: z.record(z.string(), z.unknown()) })], { error: 'must be { file } or { manifest }' });
export type DrillDeployable = z.output<typeof drillDeployableSchema>;

const percentilesSchema = z.strictObject({ p50: durationSchema.optional(), p99: durationSchema.optional() });

export const drillScenarioSchema = z.strictObject({
  name: text,
  description: z.string().max(4_096).optional(),
  /** Same seed ⇒ same fault times (and the simulator's ids and addresses). */
  seed: z.union([z.string().min(1).max(255), z.int()]).optional(),
  clouds: z.array(drillCloudSchema).min(1).max(10),
  deployables: z.array(drillDeployableSchema).min(1).max(100),
  faults: z.array(drillFaultSchema).max(200).default([]),
  disruptions: z.array(disruptionSchema).max(50).default([]),
  /** Replicas of each service (the chaos suite runs two). */
  replicas: z.strictObject({ monitor: z.int().min(1).max(3).default(1), recovery: z.int().min(1).max(3).default(1), notifier: z.int().min(1).max(3).default(1) }).default({ monitor: 1, recovery: 1, notifier: 1 }),
  /** How long the deployables may take to run at the start. */
  startTimeout: durationSchema.default(60_000),
  /** How long after the last fault's injection recovery may take before the drill stops waiting. */
  recoveryTimeout: durationSchema.default(60_000),
  /** What the figures must meet for the drill to pass. */
  slo: z
    .strictObject({
      mttd: percentilesSchema.optional(),
      mttr: percentilesSchema.optional(),
      /** VM faults are detected within this factor of their assembly's timeout (`missed × interval`), p99. */
      detectionWithin: z.number().min(1).max(100).optional(),
      /** VM faults are recovered within this factor of (timeout + the simulated time of the step that recovered them), p99. */
      recoveryWithin: z.number().min(1).max(100).optional(),
    })
    .default({}),
  /** The drill's webhook receiver answers this fraction of first delivery attempts with a 500 (the notifier retries them). */
  unacknowledged: z.number().min(0).max(0.5).default(0),
});
export type DrillScenario = z.output<typeof drillScenarioSchema>;

/** What a fault must end as: its own `expect`, or the default for its kind. */
export function expectationOf(fault: DrillFault): FaultExpectation {
  return fault.expect ?? ((apiFaultKinds as readonly string[]).includes(fault.kind) || fault.kind === 'boot-failure' || fault.kind === 'slow-boot' ? 'withstood' : 'recovered');
}
