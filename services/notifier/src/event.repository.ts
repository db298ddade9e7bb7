/** The event log's reads: every event the notifier consumed, in the order it received them. */
import type { DomainEvent } from '@defib/contracts';
import type { PagePosition } from '@defib/platform';
import { sql, type Kysely } from 'kysely';
import type { NotifierTables } from './tables.ts';

export interface EventLogFilter {
  /** Exact types and `prefix.` stems (from `assembly.*`); empty for every type. */
  types: readonly string[];
  prefixes: readonly string[];
  deployableId?: string | undefined;
  /** Received at or after. */
  since?: Date | undefined;
  /** Rows after this (received_at, id): oldest first. */
  after?: PagePosition | undefined;
  limit: number;
  /** Rows received before this many milliseconds ago are marked settled. */
  settleMs: number;
}

export interface EventLogRow {
  id: string;
  envelope: DomainEvent;
  received_at: Date;
  /** No transaction still in flight can add a row before this one (see the event log). */
  settled: boolean;
}

export const eventRepository = {
  async list(db: Kysely<NotifierTables>, filter: EventLogFilter): Promise<EventLogRow[]> {
    let query = db
      .selectFrom('events')
      .select(['id', 'envelope', 'received_at', sql<boolean>`received_at < clock_timestamp() - ${filter.settleMs} * interval '1 millisecond'`.as('settled')]);
    if (filter.types.length > 0 || filter.prefixes.length > 0) {
      query = query.where((eb) =>
        eb.or([
          ...(filter.types.length > 0 ? [eb('type', 'in', filter.types)] : []),
          ...filter.prefixes.map((prefix) => eb('type', 'like', `${prefix}%`)),
        ]),
      );
    }
    if (filter.deployableId !== undefined) query = query.where(sql<string>`envelope->'subject'->>'deployableId'`, '=', filter.deployableId);
    if (filter.since !== undefined) query = query.where('received_at', '>=', filter.since);
    if (filter.after !== undefined) query = query.where(sql<boolean>`(events.received_at, events.id) > (${filter.after.at}, ${filter.after.id}::uuid)`);
    const rows = await query.orderBy('received_at').orderBy('id').limit(filter.limit).execute();
    return rows.map((row) => ({ id: row.id, envelope: row.envelope as DomainEvent, received_at: row.received_at, settled: row.settled }));
  },
};
