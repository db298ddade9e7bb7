/**
 * The domain-event catalogue: every event Defib's services publish on the topic exchange
 * `<BUS_PREFIX>.events` (named by the platform's `busNames`), declared once in {@link eventCatalogue}. Event types, payload
 * types, the envelope type and the validators are all derived from it, and events are validated
 * both when created ({@link createDomainEvent}) and when consumed ({@link parseDomainEvent}).
 *
 * Every event travels in the same envelope: an id (the consumers' idempotency key), its type and
 * version, when it happened (ISO 8601), the correlation id (the incident's, or the request's), an
 * optional human-readable reason, the subject it is about and the type's payload.
 *
 * Times inside events are ISO 8601 strings; durations are milliseconds under keys ending in `Ms`.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { addressesSchema, ipAddressSchema } from './address.ts';
import { resourceStateSchema } from './agent-protocol.ts';
import { ContractViolation, decodeJsonBody, parseContract } from './contract-violation.ts';
import { addressFields, paramKeySchema, parsedManifestSchema } from './manifest.ts';
import { nameSchema } from './name.ts';

// ---------------------------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------------------------

/** The subject of a cloud event: the registered cloud's name. */
export const cloudSubjectSchema = z.strictObject({ cloud: nameSchema });

/**
 * The subject of an event about a monitor replica: its id (the holder id it takes leases with)
 * and, when what it reports concerns one cloud only (that cloud's API is unreachable), the cloud.
 */
export const monitorSubjectSchema = z.strictObject({ monitor: z.string().min(1).max(255), cloud: nameSchema.optional() });

const scopedSubjectFields = {
  deployableId: z.uuid(),
  deployable: nameSchema,
  assemblyId: z.uuid().optional(),
  assembly: nameSchema.optional(),
  resourceId: z.uuid().optional(),
  resource: nameSchema.optional(),
};

/** Ids and names come in pairs, and a resource is always named with its assembly. */
function checkScope(subject: { assemblyId?: string | undefined; assembly?: string | undefined; resourceId?: string | undefined; resource?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((subject.assemblyId === undefined) !== (subject.assembly === undefined)) {
    ctx.addIssue({ code: 'custom', path: [subject.assemblyId === undefined ? 'assemblyId' : 'assembly'], message: 'assemblyId and assembly go together' });
  }
  if ((subject.resourceId === undefined) !== (subject.resource === undefined)) {
    ctx.addIssue({ code: 'custom', path: [subject.resourceId === undefined ? 'resourceId' : 'resource'], message: 'resourceId and resource go together' });
  }
  if (subject.resourceId !== undefined && subject.assemblyId === undefined) {
    ctx.addIssue({ code: 'custom', path: ['assemblyId'], message: 'is required with a resource' });
  }
}

/** The subject of an event about a deployable, possibly narrowed to one of its assemblies or resources. */
export const deployableSubjectSchema = z.strictObject(scopedSubjectFields).superRefine(checkScope);

/** The subject of an event about an assembly (and possibly one of its resources). */
export const assemblySubjectSchema = z
  .strictObject({ ...scopedSubjectFields, assemblyId: z.uuid(), assembly: nameSchema })
  .superRefine(checkScope);

/** The subject of an event about one resource of one assembly. */
export const resourceSubjectSchema = z.strictObject({
  ...scopedSubjectFields,
  assemblyId: z.uuid(),
  assembly: nameSchema,
  resourceId: z.uuid(),
  resource: nameSchema,
});

/** Any event subject: a cloud, a monitor replica, or a deployable (narrowed or not to an assembly or resource). */
export const eventSubjectSchema = z.union([cloudSubjectSchema, monitorSubjectSchema, deployableSubjectSchema], {
  error: 'must be { cloud }, { monitor, cloud? } or { deployableId, deployable, assemblyId?, assembly?, resourceId?, resource? }',
});

/**
 * What an event must name, per catalogue entry: `cloud`; `monitor` (a monitor replica, and
 * possibly the cloud it concerns); `deployable` (assembly and resource optional); `assembly`
 * (resource optional); `resource`; or `any` of these (notifier events about another event's
 * delivery).
 */
export const subjectSchemas = {
  cloud: cloudSubjectSchema,
  monitor: monitorSubjectSchema,
  deployable: deployableSubjectSchema,
  assembly: assemblySubjectSchema,
  resource: resourceSubjectSchema,
  any: eventSubjectSchema,
} as const;

/** The subject level a catalogue entry requires. */
export type SubjectLevel = keyof typeof subjectSchemas;
/** The subject of any event. */
export type EventSubjectAny = z.output<typeof eventSubjectSchema>;
/** The subject of a cloud event. */
export type CloudSubject = z.output<typeof cloudSubjectSchema>;
/** The subject of a monitor replica's event. */
export type MonitorSubject = z.output<typeof monitorSubjectSchema>;
/** The subject of a deployable-level event. */
export type DeployableSubject = z.output<typeof deployableSubjectSchema>;

// ---------------------------------------------------------------------------------------------
// Vocabulary shared by payloads
// ---------------------------------------------------------------------------------------------

/** States of a deployable as the registry reports it. */
export const deployableStates = ['stopped', 'starting', 'running', 'degraded', 'recovering', 'stopping', 'failed'] as const;
/** State of a deployable. */
export type DeployableState = (typeof deployableStates)[number];

/**
 * Steps of the whole escalation ladder, from least to most disruptive: restart one resource
 * through its agent; reboot, hard-reboot or recreate (fence, then replace) the VM; restart the
 * whole deployable.
 */
export const recoverySteps = ['restart-resource', 'reboot', 'hard-reboot', 'recreate', 'restart-deployable'] as const;
/** A step of the escalation ladder. */
export type RecoveryStep = (typeof recoverySteps)[number];

/** What an incident is about. */
export const incidentLevels = ['resource', 'assembly', 'deployable'] as const;
/** What an incident is about. */
export type IncidentLevel = (typeof incidentLevels)[number];

/**
 * How an incident ended: `recovered` (verified alive again); `gave-up` (the ladder or the policy
 * was exhausted); `cancelled` (the deployable was stopped, deleted or put in maintenance);
 * `errored` (recovery could not go on for a reason outside the ladder — the cloud refused the
 * request for good, the registration is gone, a bug — and a person must look).
 */
export const incidentOutcomes = ['recovered', 'gave-up', 'cancelled', 'errored'] as const;
/** How an incident ended. */
export type IncidentOutcome = (typeof incidentOutcomes)[number];

const stepSchema = z.enum(recoverySteps);
const versionSchema = z.int().positive();
const instanceIdSchema = z.string().min(1).max(255);
const attemptSchema = z.int().positive();
const errorTextSchema = z.string().min(1).max(2048);
const cloudStatusSchema = z.string().min(1).max(64);
const timeSchema = z.iso.datetime({ offset: true });

/**
 * Why a monitor replica cannot watch reliably: it lags behind the heartbeats it consumes
 * (`lagging`), or cannot reach the broker, its database or a cloud's API (the subject names the
 * cloud then).
 */
export const monitorDegradationCauses = ['lagging', 'broker-unreachable', 'database-unreachable', 'cloud-unreachable'] as const;
/** Why a monitor replica is degraded. */
export type MonitorDegradationCause = (typeof monitorDegradationCauses)[number];

/**
 * What the monitor makes of a failed assembly by correlating its heartbeats with its cloud:
 * `crashed` (silent, and the cloud says stopped, error or gone); `boot-failed` (the same, for a VM
 * that never beat since its launch); `hung` (silent, and the cloud's own checks say impaired: EC2);
 * `hung-or-partitioned` (silent while the cloud says it runs and is healthy: from outside the VM a
 * hung guest and a cut-off agent look the same, and OpenStack has no check to tell them apart).
 */
export const assemblyFailureKinds = ['crashed', 'boot-failed', 'hung', 'hung-or-partitioned'] as const;
/** What kind of failure the monitor saw. */
export type AssemblyFailureKind = (typeof assemblyFailureKinds)[number];

/**
 * How a fenced VM was confirmed stopped before its replacement was created: the cloud reported
 * it stopped or terminated (`cloud-status`), or no longer knows it (`cloud-gone`).
 */
export const fenceConfirmations = ['cloud-status', 'cloud-gone'] as const;
/** How a fence was confirmed. */
export type FenceConfirmation = (typeof fenceConfirmations)[number];

const maintenanceEnteredSchema = z.strictObject({
  /** When maintenance ends by itself; absent when it lasts until asked to end. */
  until: timeSchema.optional(),
});

const maintenanceLeftSchema = z.strictObject({
  /** `requested`: someone ended it; `expired`: its `until` passed. */
  ended: z.enum(['requested', 'expired']),
});

/** Filled in once the catalogue exists; lets payloads name other event types without a circular type. */
const knownEventTypes = new Set<string>();
const eventTypeNameSchema = z.string().refine((type) => knownEventTypes.has(type), 'must be a catalogued event type');

/** Key of a resource in `deployable.start-requested`'s `resourceIds`: `<assembly>/<resource>`. */
export function resourceIdKey(assembly: string, resource: string): string {
  return `${assembly}/${resource}`;
}

const startRequestedSchema = z
  .strictObject({
    /** Version of the manifest being started. */
    version: versionSchema,
    cloud: nameSchema,
    /** The full parsed manifest: recovery launches exactly this. */
    manifest: parsedManifestSchema,
    /** Registry id of every assembly, by assembly name. */
    assemblyIds: z.record(nameSchema, z.uuid()),
    /** Registry id of every resource, by `<assembly>/<resource>` (see {@link resourceIdKey}). */
    resourceIds: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,62}\/[a-z][a-z0-9-]{0,62}$/, 'must be <assembly>/<resource>'), z.uuid()),
  })
  .superRefine(({ manifest, assemblyIds, resourceIds }, ctx) => {
    for (const assembly of manifest.assemblies) {
      if (assemblyIds[assembly.name] === undefined) ctx.addIssue({ code: 'custom', path: ['assemblyIds', assembly.name], message: 'is required for every assembly in the manifest' });
      for (const resource of assembly.resources) {
        const key = resourceIdKey(assembly.name, resource.name);
        if (resourceIds[key] === undefined) ctx.addIssue({ code: 'custom', path: ['resourceIds', key], message: 'is required for every resource in the manifest' });
      }
    }
  });

// ---------------------------------------------------------------------------------------------
// The catalogue
// ---------------------------------------------------------------------------------------------

/**
 * Every domain event: its current version, the subject it must name, what it means, and its
 * payload (`data`). Declared once; everything else in this module derives from it. Adding a
 * field that consumers may ignore is compatible; anything else is a new version.
 */
export const eventCatalogue = {
  // registry ---------------------------------------------------------------------------------
  'cloud.registered': {
    version: 1,
    subject: 'cloud',
    description: 'A cloud was registered or its registration replaced. Never carries credentials.',
    payload: z.strictObject({
      provider: z.enum(['openstack', 'ec2']),
      region: z.string().min(1),
      /** Keystone `authUrl` for OpenStack, Query API `endpoint` for EC2. */
      endpoint: z.string().min(1),
      /** False when an existing registration was replaced. */
      created: z.boolean(),
    }),
  },
  'cloud.removed': {
    version: 1,
    subject: 'cloud',
    description: 'A cloud registration was removed.',
    payload: z.strictObject({ provider: z.enum(['openstack', 'ec2']) }),
  },
  'deployable.applied': {
    version: 1,
    subject: 'deployable',
    description: 'A manifest was applied (created or updated); ids of its assemblies and resources are assigned.',
    payload: z.strictObject({
      /** Manifest version, incremented on every change. */
      version: versionSchema,
      cloud: nameSchema,
      assemblies: z.array(
        z.strictObject({
          id: z.uuid(),
          name: nameSchema,
          resources: z.array(z.strictObject({ id: z.uuid(), name: nameSchema })),
        }),
      ),
      /** False when the applied manifest was identical to the stored one (no new version). */
      changed: z.boolean(),
    }),
  },
  'deployable.deleted': {
    version: 1,
    subject: 'deployable',
    description: 'A deployable was deleted (after being stopped).',
    payload: z.strictObject({ /** The last manifest version. */ version: versionSchema }),
  },
  'deployable.start-requested': {
    version: 1,
    subject: 'deployable',
    description: 'The user asked to start a deployable; recovery launches it in dependency order.',
    payload: startRequestedSchema,
  },
  'deployable.stop-requested': {
    version: 1,
    subject: 'deployable',
    description: 'The user asked to stop a deployable; recovery stops its VMs and cancels open incidents.',
    payload: z.strictObject({ version: versionSchema }),
  },

  // recovery and lifecycle -----------------------------------------------------------------
  'deployable.state-changed': {
    version: 1,
    subject: 'deployable',
    description: "A deployable's overall state changed.",
    payload: z
      .strictObject({ from: z.enum(deployableStates), to: z.enum(deployableStates) })
      .refine(({ from, to }) => from !== to, { path: ['to'], message: 'must differ from from' }),
  },
  'assembly.launched': {
    version: 1,
    subject: 'assembly',
    description: "An assembly's VM was created on the cloud (its agent has not necessarily beaten yet).",
    payload: z.strictObject({
      instanceId: instanceIdSchema,
      cloud: nameSchema,
      addresses: addressesSchema,
      /** The fenced VM this one replaces, when launched by a `recreate`. */
      previousInstanceId: instanceIdSchema.optional(),
    }),
  },
  'assembly.fenced': {
    version: 1,
    subject: 'assembly',
    description: "An assembly's old VM was stopped or terminated and the cloud confirmed it, so its replacement may be created: two copies never run.",
    payload: z.strictObject({
      instanceId: instanceIdSchema,
      /** What recovery asked the cloud to do. */
      action: z.enum(['stop', 'terminate']),
      confirmedBy: z.enum(fenceConfirmations),
      /** The cloud's status that confirmed it, e.g. `SHUTOFF`, `terminated`, or `gone`. */
      cloudStatus: cloudStatusSchema,
      incidentId: z.uuid().optional(),
    }),
  },
  'assembly.stopped': {
    version: 1,
    subject: 'assembly',
    description: "An assembly's VM was stopped or terminated, as confirmed by the cloud.",
    payload: z.strictObject({ /** Absent when the VM was never created. */ instanceId: instanceIdSchema.optional() }),
  },
  'assembly.recovered': {
    version: 1,
    subject: 'assembly',
    description: 'An assembly is alive again after an incident (verified by a heartbeat).',
    payload: z.strictObject({
      instanceId: instanceIdSchema,
      addresses: addressesSchema,
      incidentId: z.uuid(),
      /** The step that brought it back; absent if it came back before any step was taken. */
      step: stepSchema.optional(),
    }),
  },
  'incident.opened': {
    version: 1,
    subject: 'deployable',
    description: 'Recovery opened an incident for a failing resource, assembly or deployable; later failures of the same thing fold into it.',
    payload: z.strictObject({
      incidentId: z.uuid(),
      level: z.enum(incidentLevels),
      /** Type of the event that opened it, e.g. `assembly.unresponsive`. */
      trigger: eventTypeNameSchema,
      /** Id of that event. */
      triggerEventId: z.uuid().optional(),
    }),
  },
  'incident.resolved': {
    version: 1,
    subject: 'deployable',
    description: 'An incident was closed.',
    payload: z.strictObject({ incidentId: z.uuid(), outcome: z.enum(incidentOutcomes) }),
  },
  'recovery.started': {
    version: 1,
    subject: 'deployable',
    description: 'Recovery began a step of the ladder for an incident.',
    payload: z.strictObject({ incidentId: z.uuid(), step: stepSchema, /** 1 for the first try of this step. */ attempt: attemptSchema.optional() }),
  },
  'recovery.step-succeeded': {
    version: 1,
    subject: 'deployable',
    description: 'A recovery step completed and was verified.',
    payload: z.strictObject({ incidentId: z.uuid(), step: stepSchema, attempt: attemptSchema }),
  },
  'recovery.step-failed': {
    version: 1,
    subject: 'deployable',
    description: 'A recovery step failed or could not be verified in time.',
    payload: z.strictObject({ incidentId: z.uuid(), step: stepSchema, attempt: attemptSchema, error: errorTextSchema }),
  },
  'recovery.escalated': {
    version: 1,
    subject: 'deployable',
    description: 'Recovery moved an incident up the ladder.',
    payload: z.strictObject({ incidentId: z.uuid(), from: stepSchema, to: stepSchema }),
  },
  'recovery.gave-up': {
    version: 1,
    subject: 'deployable',
    description: 'Recovery exhausted the ladder (or the deployable escalation policy) and stopped trying: a human is needed.',
    payload: z.strictObject({ incidentId: z.uuid(), /** Steps tried, in order. */ stepsTried: z.array(stepSchema) }),
  },
  'resource.reconfigured': {
    version: 1,
    subject: 'resource',
    description: "A resource's parameters that reference an assembly's address were set to its new address through the agent.",
    payload: z.strictObject({
      /** Each parameter that changed, with the reference it resolves and its new value. */
      parameters: z
        .array(
          z.strictObject({
            name: paramKeySchema,
            ref: nameSchema,
            field: z.enum(addressFields),
            value: ipAddressSchema,
          }),
        )
        .min(1),
      /** The `assembly.address-changed` event that caused it. */
      causeEventId: z.uuid().optional(),
    }),
  },

  // monitor -----------------------------------------------------------------------------------
  'assembly.running': {
    version: 1,
    subject: 'assembly',
    description: "The first heartbeat from an assembly's VM was seen (after launch or reboot).",
    payload: z.strictObject({ instanceId: instanceIdSchema, addresses: addressesSchema }),
  },
  'assembly.unresponsive': {
    version: 1,
    subject: 'assembly',
    description: 'No heartbeat from an assembly for `missed × interval`.',
    payload: z.strictObject({
      /** Absent if no heartbeat was ever received. */
      instanceId: instanceIdSchema.optional(),
      /** When the last heartbeat was received (monitor clock); absent if none ever was. */
      lastHeartbeatAt: timeSchema.optional(),
      silentForMs: z.int().nonnegative(),
      /** Heartbeats missed (the manifest's `heartbeat.missed` at least). */
      missed: z.int().positive(),
      /** What the cloud says of the silent VM: `hung-or-partitioned` while it says running (absent when the cloud could not be asked). */
      failure: z.enum(assemblyFailureKinds).optional(),
      /** The cloud's status when the verdict was given, e.g. `ACTIVE`, `running/ok`; absent when unknown. */
      cloudStatus: cloudStatusSchema.optional(),
    }),
  },
  'assembly.failed': {
    version: 1,
    subject: 'assembly',
    description: "The cloud reports an assembly's VM as failed or gone while it should run.",
    payload: z.strictObject({
      instanceId: instanceIdSchema,
      /** The cloud's status, e.g. `ERROR`, `SHUTOFF`, `terminated`, or `gone` when the cloud no longer knows the VM. */
      cloudStatus: cloudStatusSchema,
      /** What kind of failure it is, from the heartbeats and the cloud together. */
      failure: z.enum(assemblyFailureKinds).optional(),
    }),
  },
  'assembly.address-changed': {
    version: 1,
    subject: 'assembly',
    description: "An assembly's addresses differ from the last known ones; resources referencing them get reconfigured.",
    payload: z.strictObject({ instanceId: instanceIdSchema, previous: addressesSchema, current: addressesSchema }),
  },
  'assembly.state-disputed': {
    version: 1,
    subject: 'assembly',
    description:
      "Heartbeats from an assembly arrive while the cloud reports its VM stopped or gone: another VM may run its agent (a copy, a cloned image), or the cloud's view is stale. The assembly is not declared failed while heartbeats arrive; a person should look.",
    payload: z.strictObject({
      instanceId: instanceIdSchema,
      /** The cloud's status, e.g. `SHUTOFF`, `stopped`, or `gone`. */
      cloudStatus: cloudStatusSchema,
      /** When the latest heartbeat was received (monitor clock). */
      lastHeartbeatAt: timeSchema,
    }),
  },
  'monitor.degraded': {
    version: 1,
    subject: 'monitor',
    description:
      'A monitor replica cannot watch reliably (it lags, or cannot reach the broker, its database or a cloud). It raises no failure it cannot vouch for until it recovers.',
    payload: z.strictObject({
      cause: z.enum(monitorDegradationCauses),
      /** How far behind it is, when lagging. */
      lagMs: z.int().nonnegative().optional(),
      detail: z.string().min(1).max(1024).optional(),
    }),
  },
  'monitor.recovered': {
    version: 1,
    subject: 'monitor',
    description: 'A degraded monitor replica watches reliably again.',
    payload: z.strictObject({ cause: z.enum(monitorDegradationCauses), degradedForMs: z.int().nonnegative() }),
  },
  'resource.failed': {
    version: 1,
    subject: 'resource',
    description: 'An agent reports a resource as not running while it should.',
    payload: z.strictObject({ state: resourceStateSchema, /** The agent's explanation. */ detail: z.string().max(1024).optional() }),
  },
  'resource.restarted': {
    version: 1,
    subject: 'resource',
    description: 'An agent restarted a resource on command.',
    payload: z.strictObject({}),
  },
  'resource.running': {
    version: 1,
    subject: 'resource',
    description: 'An agent reports a resource running again (or for the first time).',
    payload: z.strictObject({}),
  },

  // maintenance -------------------------------------------------------------------------------
  'deployable.maintenance-entered': {
    version: 1,
    subject: 'deployable',
    description: 'A deployable was put in maintenance: its failures are still observed and reported, but not recovered.',
    payload: maintenanceEnteredSchema,
  },
  'deployable.maintenance-left': {
    version: 1,
    subject: 'deployable',
    description: 'A deployable left maintenance: failures are recovered again.',
    payload: maintenanceLeftSchema,
  },
  'assembly.maintenance-entered': {
    version: 1,
    subject: 'assembly',
    description: 'An assembly was put in maintenance: its failures are still observed and reported, but not recovered.',
    payload: maintenanceEnteredSchema,
  },
  'assembly.maintenance-left': {
    version: 1,
    subject: 'assembly',
    description: 'An assembly left maintenance: failures are recovered again.',
    payload: maintenanceLeftSchema,
  },

  // notifier ----------------------------------------------------------------------------------
  'hook.failed': {
    version: 1,
    subject: 'any',
    description: 'A delivery to a hook (a webhook marked as one, e.g. to update DNS on an address change) failed for good: its retries are exhausted or the endpoint refused it permanently. The subject is the delivered event\'s.',
    payload: z.strictObject({
      subscriptionId: z.uuid(),
      deliveryId: z.uuid(),
      eventId: z.uuid(),
      eventType: eventTypeNameSchema,
      /** Attempts made so far. */
      attempts: attemptSchema,
      /** HTTP status or network error, never the receiver's response body. */
      lastError: errorTextSchema,
    }),
  },
  'notification.exhausted': {
    version: 1,
    subject: 'any',
    description: 'A delivery ran out of retries and was given up. The subject is the delivered event\'s.',
    payload: z.strictObject({
      subscriptionId: z.uuid(),
      deliveryId: z.uuid(),
      eventId: z.uuid(),
      eventType: eventTypeNameSchema,
      attempts: attemptSchema,
    }),
  },
} as const satisfies Record<string, { version: number; subject: SubjectLevel; description: string; payload: z.ZodType }>;

type Catalogue = typeof eventCatalogue;

/** Every domain event type, `<subject>.<verb>`. */
export type EventType = keyof Catalogue;

/** Every domain event type, in catalogue order. */
export const eventTypes: readonly EventType[] = Object.keys(eventCatalogue) as EventType[];
for (const type of eventTypes) knownEventTypes.add(type);

/** Whether `type` names a catalogued event. */
export function isEventType(type: string): type is EventType {
  return knownEventTypes.has(type);
}

/** The routing key an event is published under on the topic exchange: its type. */
export function routingKeyFor(type: EventType): string {
  return type;
}

/** The payload (`data`) of an event of type `T`. */
export type EventPayload<T extends EventType> = z.output<Catalogue[T]['payload']>;
/** The payload of an event of type `T` as given to {@link createDomainEvent}. */
export type EventPayloadInput<T extends EventType> = z.input<Catalogue[T]['payload']>;
/** The subject an event of type `T` carries. */
export type EventSubject<T extends EventType> = z.output<(typeof subjectSchemas)[Catalogue[T]['subject']]>;
/** The current version of events of type `T`. */
export type EventVersion<T extends EventType> = Catalogue[T]['version'];

/**
 * A domain event in its envelope. `DomainEvent` (no argument) is the union of all of them,
 * narrowed by `type`.
 */
export type DomainEvent<T extends EventType = EventType> = {
  [K in T]: {
    /** Unique per event: consumers use it as their idempotency key. */
    id: string;
    type: K;
    version: EventVersion<K>;
    /** When it happened, ISO 8601. */
    occurredAt: string;
    /** The incident's id during recovery, otherwise the id of the request that caused it. */
    correlationId: string;
    /** Why, in words, for people reading notifications and the delivery log. */
    reason?: string;
    subject: EventSubject<K>;
    data: EventPayload<K>;
  };
}[T];

function envelopeSchema(type: EventType) {
  const entry = eventCatalogue[type];
  return z.strictObject({
    id: z.uuid(),
    type: z.literal(type),
    version: z.literal(entry.version),
    occurredAt: z.iso.datetime({ offset: true }),
    correlationId: z.string().min(1).max(255),
    reason: z.string().min(1).max(2048).optional(),
    subject: subjectSchemas[entry.subject] as z.ZodType,
    data: entry.payload as z.ZodType,
  });
}

/** The envelope validator of each event type. */
export const domainEventSchemas = Object.fromEntries(eventTypes.map((type) => [type, envelopeSchema(type)])) as unknown as {
  [K in EventType]: z.ZodType<DomainEvent<K>>;
};

/** Validates any domain event, discriminated on `type`. */
export const domainEventSchema = z.discriminatedUnion(
  'type',
  eventTypes.map(envelopeSchema) as unknown as [ReturnType<typeof envelopeSchema>, ...ReturnType<typeof envelopeSchema>[]],
) as unknown as z.ZodType<DomainEvent>;

/**
 * Parses a domain event from a message body (bytes, JSON text or a decoded value). Throws a
 * {@link ContractViolation} listing every issue for an unknown type, another version, or a
 * subject or payload that does not match the catalogue.
 */
export function parseDomainEvent(raw: unknown): DomainEvent {
  const value = decodeJsonBody('domain event', raw);
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !isEventType(type)) {
    throw new ContractViolation('domain event', [{ path: 'type', message: type === undefined ? 'is required' : 'is not a catalogued event type' }]);
  }
  return parseContract(`${type} event`, domainEventSchemas[type], value);
}

/** What {@link createDomainEvent} needs besides the type; `id` and `occurredAt` default to a new UUID and now. */
export type DomainEventInit<T extends EventType> = {
  subject: z.input<(typeof subjectSchemas)[Catalogue[T]['subject']]>;
  data: EventPayloadInput<T>;
  correlationId: string;
  reason?: string;
  id?: string;
  occurredAt?: string | Date;
};

/**
 * Builds a domain event of the catalogue's current version and validates it on the way out:
 * throws a {@link ContractViolation} if the subject or payload do not match the catalogue.
 */
export function createDomainEvent<T extends EventType>(type: T, init: DomainEventInit<T>): DomainEvent<T> {
  const occurredAt = init.occurredAt instanceof Date ? init.occurredAt.toISOString() : (init.occurredAt ?? new Date().toISOString());
  const event = {
    id: init.id ?? randomUUID(),
    type,
    version: eventCatalogue[type].version,
    occurredAt,
    correlationId: init.correlationId,
    ...(init.reason === undefined ? {} : { reason: init.reason }),
    subject: init.subject,
    data: init.data,
  };
  return parseContract(`${type} event`, domainEventSchemas[type], event);
}
