/**
 * What a fault is, as the control API and scenario files state it: a kind, a target and the
 * kind's parameters, validated once here with zod. Durations are strings (`500ms`, `30s`, `5m`)
 * in cloud time: the engine divides them by the speed factor like every other delay.
 */
import { durationSchema } from '@defib/contracts';
import { z } from 'zod';

/** Faults on VMs and their guests. */
export const vmFaultKinds = ['vm-crash', 'vm-hang', 'agent-partition', 'resource-crash', 'resource-flap', 'resource-no-restart', 'ip-change', 'host-failure', 'boot-failure', 'slow-boot'] as const;
/** Faults on a cloud's API. */
export const apiFaultKinds = ['api-error', 'api-latency', 'api-throttle', 'api-outage'] as const;
export const faultKinds = [...vmFaultKinds, ...apiFaultKinds] as const;
export type FaultKind = (typeof faultKinds)[number];
export type ApiFaultKind = (typeof apiFaultKinds)[number];

/** Kinds that happen once, at injection, and cannot last (no `duration`). */
export const instantFaultKinds: readonly FaultKind[] = ['vm-crash', 'resource-crash', 'ip-change'];

/** Kinds that also strike VMs created while they are active (so an empty match is no error). */
export const lastingOnNewVmKinds: readonly FaultKind[] = ['boot-failure', 'slow-boot', 'host-failure'];

const selectorKeys = ['vm', 'assembly', 'host', 'zone', 'tag'] as const;
type SelectorKey = (typeof selectorKeys)[number];

const nameText = z.string().trim().min(1).max(255);

/** `key`, `key=value`, or `{ key, value }`. */
const tagSchema = z.union([
  z
    .string()
    .min(1)
    .max(512)
    .transform((text) => {
      const split = text.indexOf('=');
      return split < 0 ? { key: text } : { key: text.slice(0, split), value: text.slice(split + 1) };
    }),
  z.strictObject({ key: nameText, value: z.string().max(255).optional() }),
]);

/**
 * Which VMs (or hosts, or which cloud's API) a fault strikes. At most one selector of `vm` (id or
 * name), `assembly` (assembly id or name from the VM's agent configuration), `host`, `zone` and
 * `tag`; `cloud` narrows any of them, or alone means every VM of the cloud (or its API).
 * `pick` strikes that many of the matching VMs, chosen by the seeded stream.
 */
export const faultTargetSchema = z
  .strictObject({
    cloud: nameText.optional(),
    vm: nameText.optional(),
    assembly: nameText.optional(),
    host: nameText.optional(),
    zone: nameText.optional(),
    tag: tagSchema.optional(),
    pick: z.int().positive().max(10_000).optional(),
  })
  .superRefine((target, ctx) => {
    const given = selectorKeys.filter((key) => target[key] !== undefined);
    if (given.length === 0 && target.cloud === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs one of vm, assembly, host, zone, tag or cloud' });
    }
    for (const extra of given.slice(1)) {
      ctx.addIssue({ code: 'custom', path: [extra], message: `cannot be combined with ${given[0]}: give one selector (cloud may narrow it)` });
    }
  });
export type FaultTarget = z.output<typeof faultTargetSchema>;

/** Which of a cloud's API operations an API fault affects: exact names (`servers.create`, `RunInstances`) or prefixes ending in `*`. All when absent. */
const operationsSchema = z.array(z.string().min(1).max(128)).min(1).max(100).optional();
const rateSchema = z.number().gt(0, 'must be greater than 0').lte(1, 'must be at most 1');
const resourceName = z.string().trim().min(1).max(63);

const lasting = { duration: durationSchema.optional() };

/** The parameters of each kind, without the target. */
const kindShapes = {
  /** The VM's guest dies: the cloud shows it SHUTOFF/stopped (or ERROR). */
  'vm-crash': { to: z.enum(['stopped', 'error']).default('stopped') },
  /** The guest hangs: the API says running, the agent is silent. */
  'vm-hang': { ...lasting },
  /** Heartbeats are lost; VM and resources are fine (the false-positive trap). */
  'agent-partition': { ...lasting },
  'resource-crash': { resource: resourceName },
  /** The resource crashes now and again `failAfter` after every restart. */
  'resource-flap': { resource: resourceName, failAfter: durationSchema, ...lasting },
  /** The resource crashes now and every restart or start fails. */
  'resource-no-restart': { resource: resourceName, ...lasting },
  /** New fixed addresses and/or floating addresses moved. */
  'ip-change': { fixed: z.boolean().default(true), floating: z.boolean().default(false) },
  /** Every VM on the host(s) fails (`error` or `stopped`, or `hang`: the API still says running). New VMs avoid the host while it is down. */
  'host-failure': { mode: z.enum(['error', 'stopped', 'hang']).default('error'), ...lasting },
  /** VMs built while active end their build in ERROR (or terminated, as EC2 shows a failed launch). */
  'boot-failure': { to: z.enum(['error', 'deleted']).default('error'), ...lasting },
  /** VMs built while active take `delay` longer. */
  'slow-boot': { delay: durationSchema, ...lasting },
  /** A fraction of calls fail with a 500 (Nova `computeFault`, EC2 `InternalError`). */
  'api-error': { operations: operationsSchema, rate: rateSchema.default(1), ...lasting },
  /** Calls take `latency` longer. */
  'api-latency': { operations: operationsSchema, latency: durationSchema, ...lasting },
  /** Calls are throttled (Nova 429, EC2 `RequestLimitExceeded`): a fraction of them, or beyond a token bucket of `perSecond`/`burst`. */
  'api-throttle': {
    operations: operationsSchema,
    rate: rateSchema.optional(),
    perSecond: z.number().positive().max(1_000_000).optional(),
    burst: z.int().positive().max(1_000_000).optional(),
    retryAfter: durationSchema.optional(),
    ...lasting,
  },
  /** The API answers 503 to every matching call: an outage window. */
  'api-outage': { operations: operationsSchema, ...lasting },
} as const satisfies Record<FaultKind, z.ZodRawShape>;

function kindSchema<K extends FaultKind, S extends z.ZodRawShape>(kind: K, extra: S) {
  return z.strictObject({ kind: z.literal(kind), target: faultTargetSchema, ...kindShapes[kind], ...extra });
}

function unionOf<S extends z.ZodRawShape>(extra: S) {
  return z.discriminatedUnion('kind', [
    kindSchema('vm-crash', extra),
    kindSchema('vm-hang', extra),
    kindSchema('agent-partition', extra),
    kindSchema('resource-crash', extra),
    kindSchema('resource-flap', extra),
    kindSchema('resource-no-restart', extra),
    kindSchema('ip-change', extra),
    kindSchema('host-failure', extra),
    kindSchema('boot-failure', extra),
    kindSchema('slow-boot', extra),
    kindSchema('api-error', extra),
    kindSchema('api-latency', extra),
    kindSchema('api-throttle', extra),
    kindSchema('api-outage', extra),
  ]);
}

/** Rules across fields that zod shapes cannot say: which targets a kind accepts. */
interface CheckedFields {
  kind: FaultKind;
  target: FaultTarget;
  fixed?: boolean;
  floating?: boolean;
  perSecond?: number | undefined;
  burst?: number | undefined;
  rate?: number | undefined;
}

function checkTargets(spec: CheckedFields, ctx: z.RefinementCtx): void {
  const selectors = selectorKeys.filter((key: SelectorKey) => spec.target[key] !== undefined);
  if ((apiFaultKinds as readonly string[]).includes(spec.kind)) {
    if (spec.target.cloud === undefined) ctx.addIssue({ code: 'custom', path: ['target', 'cloud'], message: `is required: ${spec.kind} strikes one cloud's API` });
    for (const key of selectors) ctx.addIssue({ code: 'custom', path: ['target', key], message: `is not allowed: ${spec.kind} strikes a cloud's API, not VMs` });
    if (spec.target.pick !== undefined) ctx.addIssue({ code: 'custom', path: ['target', 'pick'], message: `is not allowed for ${spec.kind}` });
  }
  if (spec.kind === 'host-failure') {
    for (const key of selectors.filter((selector) => selector !== 'host' && selector !== 'zone')) {
      ctx.addIssue({ code: 'custom', path: ['target', key], message: 'is not allowed: host-failure targets a host, a zone or a cloud' });
    }
    if (spec.target.pick !== undefined) ctx.addIssue({ code: 'custom', path: ['target', 'pick'], message: 'is not allowed for host-failure' });
  }
  if (spec.kind === 'ip-change' && spec.fixed === false && spec.floating === false) {
    ctx.addIssue({ code: 'custom', path: ['fixed'], message: 'fixed or floating must be true: an ip-change changes at least one address' });
  }
  if (spec.kind === 'api-throttle') {
    if (spec.rate !== undefined && spec.perSecond !== undefined) ctx.addIssue({ code: 'custom', path: ['perSecond'], message: 'cannot be combined with rate: throttle a fraction of calls or beyond a rate' });
    if (spec.burst !== undefined && spec.perSecond === undefined) ctx.addIssue({ code: 'custom', path: ['burst'], message: 'needs perSecond' });
  }
}

/** A fault as the control API takes it (`POST /_sim/faults`). */
export const faultSpecSchema = unionOf({}).superRefine(checkTargets);
export type FaultSpec = z.output<typeof faultSpecSchema>;
export type FaultSpecInput = z.input<typeof faultSpecSchema>;

/** A fault of one kind. */
export type FaultSpecOf<K extends FaultKind> = Extract<FaultSpec, { kind: K }>;

/** Builds the same union with extra fields on every kind (a scenario's `at`, `count`, `every`). */
export function faultSpecSchemaWith<S extends z.ZodRawShape>(extra: S) {
  return unionOf(extra).superRefine((spec, ctx) => checkTargets(spec as CheckedFields, ctx));
}

export function isApiFault(spec: FaultSpec): spec is Extract<FaultSpec, { kind: ApiFaultKind }> {
  return (apiFaultKinds as readonly string[]).includes(spec.kind);
}
