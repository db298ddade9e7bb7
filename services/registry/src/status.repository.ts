/**
 * The observed-status projection's rows. Every write is conditional on time: a change applies only
 * when it is at least as new as what the row holds, so events applied out of order (parallel
 * consumers, redeliveries) never let older news overwrite newer.
 */
import type { DeployableState, IncidentLevel, IncidentOutcome, RecoveryStep, ResourceState } from '@defib/contracts';
import { sql } from 'kysely';
import type { Executor } from './cloud.repository.ts';
import type { AssemblyStatusRow, DeployableStatusRow, IncidentRow, NewRecentEvent, ObservedAssemblyState, RecentEventRow, ResourceStatusRow } from './tables.ts';

/** What an event says about an assembly; a field left out is left as it is. */
export interface AssemblyChange {
  assemblyId: string;
  changedAt: Date;
  reason: string | null;
  state?: ObservedAssemblyState;
  instanceId?: string | null;
  addresses?: unknown[];
}

/** The incident an event belongs to, as a row the event would create. */
export interface IncidentKey {
  id: string;
  deployableId: string;
  assemblyId: string | null;
  resourceId: string | null;
  /** When the event happened. */
  at: Date;
  /** The level a row created by this event gets when the event does not state it. */
  impliedLevel: IncidentLevel;
}

/** What an event says about its incident; a field left out is left as it is. */
export interface IncidentChanges {
  level?: IncidentLevel;
  trigger?: string;
  step?: RecoveryStep | null;
  status?: 'open' | 'resolved';
  outcome?: IncidentOutcome;
}

export const statusRepository = {
  async deployableExists(db: Executor, deployableId: string): Promise<boolean> {
    const row = await db.selectFrom('deployables').select('id').where('id', '=', deployableId).executeTakeFirst();
    return row !== undefined;
  },

  /** Keeps the event among the deployable's recent ones, the newest `keep` of them. */
  async rememberEvent(db: Executor, event: NewRecentEvent, keep: number): Promise<void> {
    await db
      .insertInto('recent_events')
      .values(event)
      .onConflict((conflict) => conflict.column('event_id').doNothing())
      .execute();
    await db
      .deleteFrom('recent_events')
      .where('deployable_id', '=', event.deployable_id)
      .where('event_id', 'not in', (eb) => eb.selectFrom('recent_events').select('event_id').where('deployable_id', '=', event.deployable_id).orderBy('occurred_at', 'desc').limit(keep))
      .execute();
  },

  async setDeployableState(db: Executor, change: { deployableId: string; state: DeployableState; reason: string | null; changedAt: Date }): Promise<void> {
    const { state, reason, changedAt } = change;
    await db
      .insertInto('deployable_status')
      .values({ deployable_id: change.deployableId, state, reason, changed_at: changedAt })
      .onConflict((conflict) =>
        conflict.column('deployable_id').doUpdateSet({ state, reason, changed_at: changedAt }).where('deployable_status.changed_at', '<=', changedAt),
      )
      .execute();
  },

  async setAssemblyState(db: Executor, change: AssemblyChange): Promise<void> {
    const { changedAt, reason } = change;
    await db
      .insertInto('assembly_status')
      .values({
        assembly_id: change.assemblyId,
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
  },

  async setResourceState(db: Executor, change: { resourceId: string; state: ResourceState; reason: string | null; changedAt: Date }): Promise<void> {
    const { state, reason, changedAt } = change;
    await db
      .insertInto('resource_status')
      .values({ resource_id: change.resourceId, state, reason, changed_at: changedAt })
      .onConflict((conflict) => conflict.column('resource_id').doUpdateSet({ state, reason, changed_at: changedAt }).where('resource_status.changed_at', '<=', changedAt))
      .execute();
  },

  /**
   * Creates the incident's row if this is the first of its events to arrive, or applies the
   * changes: a resolution is final whenever it arrives; a step only counts when it is the newest news.
   */
  async recordIncident(db: Executor, incident: IncidentKey, changes: IncidentChanges): Promise<void> {
    const { at } = incident;
    await db
      .insertInto('incidents')
      .values({
        id: incident.id,
        deployable_id: incident.deployableId,
        assembly_id: incident.assemblyId,
        resource_id: incident.resourceId,
        level: changes.level ?? incident.impliedLevel,
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
          ...(changes.status === 'resolved' ? { status: 'resolved' as const, outcome: changes.outcome ?? null } : {}),
          ...(changes.step === undefined ? {} : { step: eb.case().when('incidents.updated_at', '<=', at).then(changes.step).else(eb.ref('incidents.step')).end() }),
          updated_at: eb.fn('greatest', [eb.ref('incidents.updated_at'), eb.val(at)]),
        })),
      )
      .execute();
  },

  /** Removes what the projection holds about a deployable (it is being deleted). */
  async forget(db: Executor, deployableId: string, assemblyIds: readonly string[], resourceIds: readonly string[]): Promise<void> {
    await db.deleteFrom('deployable_status').where('deployable_id', '=', deployableId).execute();
    await db.deleteFrom('incidents').where('deployable_id', '=', deployableId).execute();
    await db.deleteFrom('recent_events').where('deployable_id', '=', deployableId).execute();
    if (assemblyIds.length > 0) await db.deleteFrom('assembly_status').where('assembly_id', 'in', assemblyIds).execute();
    if (resourceIds.length > 0) await db.deleteFrom('resource_status').where('resource_id', 'in', resourceIds).execute();
  },

  deployableStatus(db: Executor, deployableId: string): Promise<DeployableStatusRow | undefined> {
    return db.selectFrom('deployable_status').selectAll().where('deployable_id', '=', deployableId).executeTakeFirst();
  },

  async assemblyStatuses(db: Executor, assemblyIds: readonly string[]): Promise<AssemblyStatusRow[]> {
    return assemblyIds.length === 0 ? [] : db.selectFrom('assembly_status').selectAll().where('assembly_id', 'in', assemblyIds).execute();
  },

  async resourceStatuses(db: Executor, resourceIds: readonly string[]): Promise<ResourceStatusRow[]> {
    return resourceIds.length === 0 ? [] : db.selectFrom('resource_status').selectAll().where('resource_id', 'in', resourceIds).execute();
  },

  openIncidents(db: Executor, deployableId: string): Promise<IncidentRow[]> {
    return db.selectFrom('incidents').selectAll().where('deployable_id', '=', deployableId).where('status', '=', 'open').orderBy('opened_at').execute();
  },

  /** The deployable's most recent events, newest first. */
  recentEvents(db: Executor, deployableId: string, limit: number): Promise<RecentEventRow[]> {
    return db.selectFrom('recent_events').selectAll().where('deployable_id', '=', deployableId).orderBy('occurred_at', 'desc').orderBy(sql`event_id`).limit(limit).execute();
  },
};
