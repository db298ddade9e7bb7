/**
 * Incidents and their step journal, as stored: what the intake opens and folds failures into,
 * what the runner works on and closes, and what the incidents API lists. Every function takes the
 * caller's `Kysely` or transaction, so a change joins the caller's other writes.
 */
import { randomUUID } from 'node:crypto';
import type { IncidentLevel } from '@defib/contracts';
import { decodePageCursor, encodePageCursor } from '@defib/platform';
import { sql, type Kysely } from 'kysely';
import type { FailureObservation, IncidentRow, RecoveryTables, StepRow } from './tables.ts';

export type Executor = Kysely<RecoveryTables>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Open incidents (`open` or `errored`) of a deployable, oldest first. */
export function openIncidents(db: Executor, deployableId: string): Promise<IncidentRow[]> {
  return db
    .selectFrom('incidents')
    .selectAll()
    .where('deployable_id', '=', deployableId)
    .where('status', '<>', 'closed')
    .orderBy('opened_at')
    .orderBy('id')
    .execute();
}

export function incident(db: Executor, id: string): Promise<IncidentRow | undefined> {
  return db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
}

/** An incident's steps in the order they were intended. */
export function stepsOf(db: Executor, incidentId: string): Promise<StepRow[]> {
  return db.selectFrom('steps').selectAll().where('incident_id', '=', incidentId).orderBy('intended_at').orderBy('id').execute();
}

/** What failed: the deployable as a whole, one assembly, or one resource of one assembly. */
export interface FailingThing {
  level: IncidentLevel;
  deployableId: string;
  assemblyId?: string | undefined;
  resourceId?: string | undefined;
}

/** The open incident a new failure of `thing` folds into, among the deployable's `open` incidents (see the intake's folding rules). */
export function foldTarget(open: readonly IncidentRow[], thing: FailingThing): IncidentRow | undefined {
  const deployableLevel = open.find((row) => row.level === 'deployable');
  if (deployableLevel !== undefined || thing.level === 'deployable') return deployableLevel;
  const own = open.find((row) => row.assembly_id === (thing.assemblyId ?? null) && row.resource_id === (thing.resourceId ?? null));
  if (own !== undefined || thing.level === 'assembly') return own;
  return open.find((row) => row.level === 'assembly' && row.assembly_id === thing.assemblyId);
}

/** Folds another observation into an open incident: it becomes the latest failure and is counted. */
export function foldFailure(db: Executor, incidentId: string, failure: FailureObservation): Promise<IncidentRow> {
  return db
    .updateTable('incidents')
    .set((eb) => ({ failure: JSON.stringify(failure), observations: eb('observations', '+', 1), updated_at: sql<Date>`clock_timestamp()` }))
    .where('id', '=', incidentId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Opens an incident about `thing`, or — when another transaction opened one meanwhile (the unique
 * partial index `incidents_one_open` allows one open incident per failing thing) — folds the
 * failure into that one. `opened` says which. `opened_at` is kept to the millisecond, as page
 * cursors keep it, so a page never skips an incident opened in the same millisecond.
 */
export async function openIncident(
  db: Executor,
  thing: FailingThing,
  trigger: { type: string; eventId?: string | undefined },
  failure: FailureObservation,
): Promise<{ incident: IncidentRow; opened: boolean }> {
  const inserted = await db
    .insertInto('incidents')
    .values({
      id: randomUUID(),
      deployable_id: thing.deployableId,
      assembly_id: thing.assemblyId ?? null,
      resource_id: thing.resourceId ?? null,
      level: thing.level,
      status: 'open',
      trigger: trigger.type,
      trigger_event_id: trigger.eventId ?? null,
      failure: JSON.stringify(failure),
      opened_at: sql<Date>`date_trunc('milliseconds', clock_timestamp())`,
    })
    .onConflict((conflict) => conflict.doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted !== undefined) return { incident: inserted, opened: true };
  const existing = await db
    .selectFrom('incidents')
    .select('id')
    .where('deployable_id', '=', thing.deployableId)
    .where('assembly_id', thing.assemblyId === undefined ? 'is' : '=', thing.assemblyId ?? null)
    .where('resource_id', thing.resourceId === undefined ? 'is' : '=', thing.resourceId ?? null)
    .where('status', '<>', 'closed')
    .executeTakeFirstOrThrow();
  return { incident: await foldFailure(db, existing.id, failure), opened: false };
}

/** An incident with the names of what it is about (null once recovery forgot the deployable or assembly). */
export interface DescribedIncident extends IncidentRow {
  deployable_name: string | null;
  assembly_name: string | null;
  resource_name: string | null;
}

function describedIncidents(db: Executor) {
  return db
    .selectFrom('incidents')
    .leftJoin('deployables', 'deployables.id', 'incidents.deployable_id')
    .leftJoin('assemblies', 'assemblies.id', 'incidents.assembly_id')
    .selectAll('incidents')
    .select(['deployables.name as deployable_name', 'assemblies.name as assembly_name', 'deployables.resource_ids']);
}

/** `<assembly>/<resource>` keys by id, reversed: the resource's own name. */
function describe(row: IncidentRow & { deployable_name: string | null; assembly_name: string | null; resource_ids: Record<string, string> | null }): DescribedIncident {
  const { resource_ids: resourceIds, ...incidentRow } = row;
  const key = Object.entries(resourceIds ?? {}).find(([, id]) => id === row.resource_id)?.[0];
  return { ...incidentRow, resource_name: key === undefined ? null : (key.split('/')[1] ?? null) };
}

export async function describedIncident(db: Executor, id: string): Promise<DescribedIncident | undefined> {
  const row = await describedIncidents(db).where('incidents.id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : describe(row);
}

export interface IncidentFilter {
  /** A deployable's name or id. */
  deployable?: string | undefined;
  /** `open` includes `errored`. */
  state?: 'open' | 'closed' | undefined;
  /** Opened at or after. */
  since?: Date | undefined;
  /** Opened before. */
  until?: Date | undefined;
  limit: number;
  /** The previous page's `nextCursor`. */
  cursor?: string | undefined;
}

/**
 * Incidents newest first (by opening, then id), a page at a time. The cursor is the last row's
 * position, so incidents opened after the first page was read do not shift later pages.
 */
export async function listIncidents(db: Executor, filter: IncidentFilter): Promise<{ items: DescribedIncident[]; nextCursor?: string }> {
  let query = describedIncidents(db);
  const { deployable } = filter;
  if (deployable !== undefined) {
    query = query.where((eb) => (UUID.test(deployable) ? eb.or([eb('incidents.deployable_id', '=', deployable), eb('deployables.name', '=', deployable)]) : eb('deployables.name', '=', deployable)));
  }
  if (filter.state === 'open') query = query.where('incidents.status', '<>', 'closed');
  if (filter.state === 'closed') query = query.where('incidents.status', '=', 'closed');
  if (filter.since !== undefined) query = query.where('incidents.opened_at', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('incidents.opened_at', '<', filter.until);
  if (filter.cursor !== undefined) {
    const after = decodePageCursor(filter.cursor);
    query = query.where(sql<boolean>`(incidents.opened_at, incidents.id) < (${after.at}, ${after.id}::uuid)`);
  }
  const rows = await query.orderBy('incidents.opened_at', 'desc').orderBy('incidents.id', 'desc').limit(filter.limit + 1).execute();
  const items = rows.slice(0, filter.limit).map(describe);
  const last = items.at(-1);
  return rows.length > filter.limit && last !== undefined ? { items, nextCursor: encodePageCursor({ at: last.opened_at, id: last.id }) } : { items };
}
