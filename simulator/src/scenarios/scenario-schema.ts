/**
 * The scenario file: a seed, the clouds (overrides of the simulator's clouds, by name), the VMs
 * to create at the start (optional: drills usually create them through the cloud APIs) and the
 * faults, at fixed or seeded-random times. Times and durations are cloud time (`30s`, `5m`); the
 * speed factor compresses them all.
 */
import { durationSchema, makeDurationSchema, nameSchema } from '@defib/contracts';
import { z } from 'zod';
import { faultSpecSchemaWith } from '../faults/fault-spec.ts';

const offsetSchema = makeDurationSchema({ allowZero: true });
const text = z.string().trim().min(1).max(255);

/** When a fault strikes: a fixed offset from the start, or one drawn (seeded) from a window. */
const atSchema = z.union([
  offsetSchema,
  z
    .strictObject({ between: z.tuple([offsetSchema, offsetSchema]) })
    .refine(({ between: [from, to] }) => from <= to, { path: ['between'], message: 'the window must not end before it starts' }),
]);
export type FaultTime = z.output<typeof atSchema>;

/**
 * A fault in a scenario: any fault the control API takes, plus when. `count` repeats it: at
 * `count` seeded-random times in a `between` window, or every `every` from a fixed `at`.
 */
export const scheduledFaultSchema = faultSpecSchemaWith({
  at: atSchema,
  count: z.int().positive().max(1_000).default(1),
  every: durationSchema.optional(),
}).superRefine((fault, ctx) => {
  if (typeof fault.at === 'number' && fault.count > 1 && fault.every === undefined) {
    ctx.addIssue({ code: 'custom', path: ['every'], message: 'is required to repeat a fault at a fixed time (count > 1), or give at: { between: [from, to] }' });
  }
  if (typeof fault.at !== 'number' && fault.every !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['every'], message: 'only goes with a fixed at' });
  }
});
export type ScheduledFault = z.output<typeof scheduledFaultSchema>;

const timingsSchema = z
  .strictObject({
    build: durationSchema,
    reboot: durationSchema,
    hardReboot: durationSchema,
    stop: durationSchema,
    start: durationSchema,
    rebuild: durationSchema,
    delete: durationSchema,
    jitter: z.number().min(0).max(1),
    deletedRetention: durationSchema,
    statusChecksAfter: durationSchema,
  })
  .partial();

/** A cloud of the scenario's world: an override of a configured cloud (by name), or a new one (needs `provider`, and a restart). */
const cloudSchema = z.strictObject({
  name: text,
  provider: z.enum(['openstack', 'ec2']).optional(),
  region: text.optional(),
  zones: z.array(z.strictObject({ name: text, hosts: z.array(text).min(1).max(10_000) })).min(1).max(100).optional(),
  images: z.array(z.strictObject({ id: text.optional(), name: text, minDiskGb: z.int().nonnegative().optional(), minRamMb: z.int().nonnegative().optional(), sizeBytes: z.int().positive().optional() })).min(1).optional(),
  flavors: z.array(z.strictObject({ id: text, name: text, vcpus: z.int().positive(), ramMb: z.int().positive(), diskGb: z.int().nonnegative() })).min(1).optional(),
  networks: z.array(z.strictObject({ name: text, id: text.optional(), fixedCidr: text, floatingCidr: text.optional(), autoAssignFloating: z.boolean().optional() })).min(1).optional(),
  timings: timingsSchema.optional(),
  maxInstances: z.int().positive().optional(),
  rateLimit: z.strictObject({ perSecond: z.number().positive(), burst: z.int().positive() }).optional(),
});
export type ScenarioCloud = z.output<typeof cloudSchema>;

/** The agent a scenario VM runs; ids and broker URL are filled in (ids from the seed). */
const agentSchema = z.strictObject({
  deployable: nameSchema.default('scenario'),
  assembly: nameSchema,
  heartbeatInterval: durationSchema.default(1_000),
  brokerUrl: z.url({ protocol: /^amqps?$/, error: 'must be an amqp:// or amqps:// URL' }).optional(),
  resources: z
    .array(z.strictObject({ name: nameSchema, monitorInterval: durationSchema.default(2_000), monitorTimeout: durationSchema.optional(), params: z.record(z.string(), z.string()).optional() }))
    .max(100)
    .default([]),
});
export type ScenarioAgent = z.output<typeof agentSchema>;

/** VMs created when the scenario starts, in order. */
const vmSchema = z
  .strictObject({
    cloud: text,
    name: text,
    image: text,
    flavor: text,
    zone: text.optional(),
    count: z.int().positive().max(10_000).default(1),
    tags: z.record(z.string().min(1).max(128), z.string().max(256)).optional(),
    metadata: z.record(z.string().min(1).max(255), z.string().max(255)).optional(),
    networks: z.array(text).min(1).optional(),
    /** Raw user data (base64 or JSON); or `agent`, not both. */
    userData: z.string().min(1).max(65_536).optional(),
    agent: agentSchema.optional(),
  })
  .refine((vm) => vm.userData === undefined || vm.agent === undefined, { path: ['agent'], message: 'cannot be combined with userData' });
export type ScenarioVm = z.output<typeof vmSchema>;

export const scenarioSchema = z.strictObject({
  name: text,
  description: z.string().max(4_096).optional(),
  /** Same seed ⇒ same ids, addresses and fault schedule. */
  seed: z.union([z.string().min(1).max(255), z.int()]),
  /** Divides every delay: 60 runs a minute of cloud time in a second. */
  speed: z.number().positive().max(100_000).default(1),
  clouds: z.array(cloudSchema).max(20).optional(),
  vms: z.array(vmSchema).max(1_000).default([]),
  faults: z.array(scheduledFaultSchema).max(1_000).default([]),
  /** When the scenario ends: every fault still active heals. Runs until stopped when absent. */
  duration: durationSchema.optional(),
});
export type Scenario = z.output<typeof scenarioSchema>;
