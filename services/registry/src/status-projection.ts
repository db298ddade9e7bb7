/**
 * The observed-status projection: the registry's view of what is actually running, built only
 * from the events the monitor and recovery publish. Each handler runs once per event (inbox),
 * ignores events about deployables it no longer knows, and never lets an older event overwrite
 * a newer state (events may arrive out of order after a redelivery).
 */
import type { DomainEvent, EventType } from '@defib/contracts';
import { handleOnce, type EventHandlers } from '@defib/platform';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { RegistryTables } from './tables.ts';

/** How many events per deployable the status keeps. */
export const RECENT_EVENTS_KEPT = 50;

type Trx = Transaction<RegistryTables>;
type ScopedEvent = Extract<DomainEvent, { subject: { deployableId: string } }>;

async function knows(trx: Trx, deployableId: string): Promise<boolean> {
  const row = await trx.selectFrom('deployables').select('id').where('id', '=', deployableId).executeTakeFirst();
  return row !== undefined;
}

/**
 * Keeps `event` among the deployable's recent events (the last {@link RECENT_EVENTS_KEPT}). The
 * registry's own events (applied, start- and stop-requested) are kept in the transaction that emits them.
 */
export async function remember(trx: Trx, event: ScopedEvent): Promise<void> {
  const { deployableId, deployable: _name, ...rest } = event.subject;
  await trx
    .insertInto('recent_events')
    .values({
      event_id: event.id,
      deployable_id: deployableId,
      type: event.type,
      occurred_at: new Date(event.occurredAt),
      reason: event.reason ?? null,
      subject: JSON.stringify(rest),
      data: JSON.stringify(event.data),
    })
    .onConflict((conflict) => conflict.column('event_id').doNothing())
    .execute();
  await trx
    .deleteFrom('recent_events')
    .where('deployable_id', '=', deployableId)
    .where('event_id', 'not in', (eb) =>
      eb.selectFrom('recent_events').select('event_id').where('deployable_id', '=', deployableId).orderBy('occurred_at', 'desc').limit(RECENT_EVENTS_KEPT),
    )
    .execute();
}

async function setDeployableState(trx: Trx, event: ScopedEvent, state: string): Promise<void> {
  const changedAt = new Date(event.occurredAt);
  await trx
    .insertInto('deployable_status')
    .values({ deployable_id: event.subject.deployableId, state, reason: event.reason ?? null, changed_at: changedAt })
    .onConflict((conflict) =>
      conflict
        .column('deployable_id')
        .doUpdateSet({ state, reason: event.reason ?? null, changed_at: changedAt })
        .where('deployable_status.changed_at', '<=', changedAt),
    )
    .execute();
}

interface AssemblyChange {
  state?: string;
  instanceId?: string | null;
  addresses?: unknown[];
}

async function setAssemblyState(trx: Trx, event: ScopedEvent, change: AssemblyChange): Promise<void> {
  const assemblyId = event.subject.assemblyId;
  if (assemblyId === undefined) return;
  const changedAt = new Date(event.occurredAt);
  const reason = event.reason ?? null;
  await trx
    .insertInto('assembly_status')
    .values({
      assembly_id: assemblyId,
      state: change.state ?? 'unknown',
      instance_id: change.instanceId ?? null,
      addresses: JSON.stringify(change.addresses ?? []),
      reason,
      changed_at: changedAt,
    })
    .onConflict((conflict) =>
      conflict
        .column('assembly_id')
        .doUpdateSet({
          ...(change.state === undefined ? {} : { state: change.state, reason }),
          ...(change.instanceId === undefined ? {} : { instance_id: change.instanceId }),
          ...(change.addresses === undefined ? {} : { addresses: JSON.stringify(change.addresses) }),
          changed_at: changedAt,
        })
        .where('assembly_status.changed_at', '<=', changedAt),
    )
    .execute();
}

async function setResourceState(trx: Trx, event: ScopedEvent, state: string, reason: string | null): Promise<void> {
  const resourceId = event.subject.resourceId;
  if (resourceId === undefined) return;
  const changedAt = new Date(event.occurredAt);
  await trx
    .insertInto('resource_status')
    .values({ resource_id: resourceId, state, reason, changed_at: changedAt })
    .onConflict((conflict) => conflict.column('resource_id').doUpdateSet({ state, reason, changed_at: changedAt }).where('resource_status.changed_at', '<=', changedAt))
    .execute();
}

function levelOf(subject: ScopedEvent['subject']): string {
  return subject.resourceId !== undefined ? 'resource' : subject.assemblyId !== undefined ? 'assembly' : 'deployable';
}

/**
 * Records what an event says about an incident. Events of one incident can arrive in any order
 * (parallel consumers, redeliveries), so every one of them may create the row, and a change only
 * applies when it is newer than what the row holds.
 */
async function recordIncident(
  trx: Trx,
  incidentId: string,
  event: ScopedEvent,
  changes: { step?: string | null; status?: 'open' | 'resolved'; outcome?: string; level?: string; trigger?: string },
): Promise<void> {
  const at = new Date(event.occurredAt);
  await trx
    .insertInto('incidents')
    .values({
      id: incidentId,
      deployable_id: event.subject.deployableId,
      assembly_id: event.subject.assemblyId ?? null,
      resource_id: event.subject.resourceId ?? null,
      level: changes.level ?? levelOf(event.subject),
      trigger: changes.trigger ?? 'unknown',
      step: changes.step ?? null,
      status: changes.status ?? 'open',
      outcome: changes.outcome ?? null,
      opened_at: at,
      updated_at: at,
    })
    .onConflict((conflict) =>
      conflict.column('id').doUpdateSet((eb) => ({
        ...(changes.level === undefined ? {} : { level: changes.level }),
        ...(changes.trigger === undefined ? {} : { trigger: changes.trigger, opened_at: at }),
        // a resolution is final whenever it arrives; a step only counts when it is the newest news
        ...(changes.status === 'resolved' ? { status: 'resolved' as const, outcome: changes.outcome ?? null } : {}),
        ...(changes.step === undefined ? {} : { step: eb.case().when('incidents.updated_at', '<=', at).then(changes.step).else(eb.ref('incidents.step')).end() }),
        updated_at: eb.fn('greatest', [eb.ref('incidents.updated_at'), eb.val(at)]),
      })),
    )
    .execute();
}

type Projector<T extends EventType> = (trx: Trx, event: DomainEvent<T>) => Promise<void>;

/** What each consumed event does to the projection. */
const projectors: { [T in EventType]?: Projector<T> } = {
  'deployable.state-changed': (trx, event) => setDeployableState(trx, event, event.data.to),
  'assembly.launched': (trx, event) => setAssemblyState(trx, event, { state: 'launched', instanceId: event.data.instanceId, addresses: event.data.addresses }),
  'assembly.running': (trx, event) => setAssemblyState(trx, event, { state: 'running', instanceId: event.data.instanceId, addresses: event.data.addresses }),
  'assembly.recovered': (trx, event) => setAssemblyState(trx, event, { state: 'running', instanceId: event.data.instanceId, addresses: event.data.addresses }),
  'assembly.unresponsive': (trx, event) => setAssemblyState(trx, event, { state: 'unresponsive' }),
  'assembly.failed': (trx, event) => setAssemblyState(trx, event, { state: 'failed', instanceId: event.data.instanceId }),
  'assembly.address-changed': (trx, event) => setAssemblyState(trx, event, { instanceId: event.data.instanceId, addresses: event.data.current }),
  'assembly.stopped': (trx, event) => setAssemblyState(trx, event, { state: 'stopped', instanceId: null, addresses: [] }),
  'resource.failed': (trx, event) => setResourceState(trx, event, 'failed', event.data.detail ?? event.reason ?? null),
  'resource.running': (trx, event) => setResourceState(trx, event, 'running', null),
  'resource.restarted': (trx, event) => setResourceState(trx, event, 'running', 'restarted'),
  'incident.opened': (trx, event) => recordIncident(trx, event.data.incidentId, event, { level: event.data.level, trigger: event.data.trigger }),
  'recovery.started': (trx, event) => recordIncident(trx, event.data.incidentId, event, { step: event.data.step }),
  'recovery.escalated': (trx, event) => recordIncident(trx, event.data.incidentId, event, { step: event.data.to }),
  'recovery.step-succeeded': (trx, event) => recordIncident(trx, event.data.incidentId, event, { step: event.data.step }),
  'recovery.step-failed': (trx, event) => recordIncident(trx, event.data.incidentId, event, { step: event.data.step }),
  'recovery.gave-up': (trx, event) => recordIncident(trx, event.data.incidentId, event, {}),
  'incident.resolved': (trx, event) => recordIncident(trx, event.data.incidentId, event, { status: 'resolved', outcome: event.data.outcome }),
};

/** Event types the projection consumes. */
export const projectedEventTypes = Object.keys(projectors) as EventType[];

/** Bus handlers that apply each consumed event to the projection exactly once. */
export function statusProjectionHandlers(db: Kysely<RegistryTables>, onProjected?: (event: DomainEvent) => void): EventHandlers {
  const project = async (event: DomainEvent) => {
    const subject = event.subject as { deployableId?: string };
    const projector = projectors[event.type] as Projector<EventType> | undefined;
    if (projector === undefined || subject.deployableId === undefined) return;
    const scoped = event as ScopedEvent;
    await handleOnce(db, event, async (trx) => {
      if (!(await knows(trx, scoped.subject.deployableId))) return;
      await projector(trx, event);
      await remember(trx, scoped);
    });
    onProjected?.(event);
  };
  return Object.fromEntries(projectedEventTypes.map((type) => [type, project]));
}

/** Removes what the projection holds about a deleted deployable, in the deleting transaction. */
export async function forgetDeployable(trx: Kysely<RegistryTables>, deployableId: string, assemblyIds: string[], resourceIds: string[]): Promise<void> {
  await trx.deleteFrom('deployable_status').where('deployable_id', '=', deployableId).execute();
  await trx.deleteFrom('incidents').where('deployable_id', '=', deployableId).execute();
  await trx.deleteFrom('recent_events').where('deployable_id', '=', deployableId).execute();
  if (assemblyIds.length > 0) await trx.deleteFrom('assembly_status').where('assembly_id', 'in', assemblyIds).execute();
  if (resourceIds.length > 0) await trx.deleteFrom('resource_status').where('resource_id', 'in', resourceIds).execute();
}

/** The status document of one deployable. */
export interface DeployableStatus {
  deployable: { id: string; name: string; version: number; desired: 'running' | 'stopped'; observed: string; reason: string | null; changedAt: string | null };
  assemblies: {
    id: string;
    name: string;
    desired: 'running' | 'stopped';
    observed: string;
    instanceId: string | null;
    addresses: unknown[];
    reason: string | null;
    changedAt: string | null;
    resources: { id: string; name: string; observed: string; reason: string | null; changedAt: string | null }[];
  }[];
  openIncidents: { id: string; level: string; trigger: string; step: string | null; assemblyId: string | null; resourceId: string | null; openedAt: string; updatedAt: string }[];
  recentEvents: { id: string; type: string; occurredAt: string; reason: string | null; subject: Record<string, unknown>; data: unknown }[];
}

export async function readStatus(
  db: Kysely<RegistryTables>,
  deployable: { id: string; name: string; version: number; desiredState: 'running' | 'stopped'; assemblies: { id: string; name: string; resources: { id: string; name: string }[] }[] },
  recentLimit: number,
): Promise<DeployableStatus> {
  const assemblyIds = deployable.assemblies.map((assembly) => assembly.id);
  const resourceIds = deployable.assemblies.flatMap((assembly) => assembly.resources.map((resource) => resource.id));
  // One snapshot, so the document never mixes states from before and after an event.
  const [overall, assemblies, resources, incidents, events] = await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => [
      await trx.selectFrom('deployable_status').selectAll().where('deployable_id', '=', deployable.id).executeTakeFirst(),
      assemblyIds.length === 0 ? [] : await trx.selectFrom('assembly_status').selectAll().where('assembly_id', 'in', assemblyIds).execute(),
      resourceIds.length === 0 ? [] : await trx.selectFrom('resource_status').selectAll().where('resource_id', 'in', resourceIds).execute(),
      await trx.selectFrom('incidents').selectAll().where('deployable_id', '=', deployable.id).where('status', '=', 'open').orderBy('opened_at').execute(),
      await trx
        .selectFrom('recent_events')
        .selectAll()
        .where('deployable_id', '=', deployable.id)
        .orderBy('occurred_at', 'desc')
        .orderBy(sql`event_id`)
        .limit(recentLimit)
        .execute(),
    ] as const);
  return {
    deployable: {
      id: deployable.id,
      name: deployable.name,
      version: deployable.version,
      desired: deployable.desiredState,
      observed: overall?.state ?? 'stopped',
      reason: overall?.reason ?? null,
      changedAt: overall?.changed_at.toISOString() ?? null,
    },
    assemblies: deployable.assemblies.map((assembly) => {
      const status = assemblies.find((row) => row.assembly_id === assembly.id);
      return {
        id: assembly.id,
        name: assembly.name,
        desired: deployable.desiredState,
        observed: status?.state ?? (deployable.desiredState === 'running' ? 'pending' : 'stopped'),
        instanceId: status?.instance_id ?? null,
        addresses: status?.addresses ?? [],
        reason: status?.reason ?? null,
        changedAt: status?.changed_at.toISOString() ?? null,
        resources: assembly.resources.map((resource) => {
          const resourceStatus = resources.find((row) => row.resource_id === resource.id);
          return {
            id: resource.id,
            name: resource.name,
            observed: resourceStatus?.state ?? 'unknown',
            reason: resourceStatus?.reason ?? null,
            changedAt: resourceStatus?.changed_at.toISOString() ?? null,
          };
        }),
      };
    }),
    openIncidents: incidents.map((incident) => ({
      id: incident.id,
      level: incident.level,
      trigger: incident.trigger,
      step: incident.step,
      assemblyId: incident.assembly_id,
      resourceId: incident.resource_id,
      openedAt: incident.opened_at.toISOString(),
      updatedAt: incident.updated_at.toISOString(),
    })),
    recentEvents: events.map((event) => ({
      id: event.event_id,
      type: event.type,
      occurredAt: event.occurred_at.toISOString(),
      reason: event.reason,
      subject: event.subject,
      data: event.data,
    })),
  };
}
