/**
 * The event log: every event the notifier consumed, delivered or not, oldest first by arrival, a
 * page at a time, until `NOTIFIER_RETENTION` prunes it. A client following the log (`defib events
 * --follow`) asks again with `resumeCursor`: events are taken in by concurrent transactions, so one
 * that commits late can land before rows already shown; the resume cursor stops short of rows
 * received in the last {@link SETTLE_MS}, which may therefore be listed twice (de-duplicate by id),
 * and none is skipped.
 */
import { decodePageCursor, encodePageCursor } from '@defib/platform';
import type { DomainEvent } from '@defib/contracts';
import type { Kysely } from 'kysely';
import { eventRepository } from './event.repository.ts';
import type { NotifierTables } from './tables.ts';

/** Longer than an intake transaction lasts. */
export const SETTLE_MS = 5_000;

export interface EventListQuery {
  /** Exact catalogue types and patterns (`assembly.*`, `*`). */
  types: readonly string[];
  deployable?: string | undefined;
  since?: Date | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface EventPage {
  items: DomainEvent[];
  /** The next page now, or null when this is the last one. */
  nextCursor: string | null;
  /** Where to ask again later for events received since; null: ask again with the same cursor. */
  resumeCursor: string | null;
}

export interface EventLog {
  list(query: EventListQuery): Promise<EventPage>;
}

export function createEventLog(db: Kysely<NotifierTables>): EventLog {
  return {
    async list(query) {
      const wanted = query.types.includes('*') ? [] : query.types;
      const rows = await eventRepository.list(db, {
        types: wanted.filter((type) => !type.endsWith('.*')),
        prefixes: wanted.filter((type) => type.endsWith('.*')).map((pattern) => pattern.slice(0, -1)),
        deployableId: query.deployable,
        since: query.since,
        after: query.cursor === undefined ? undefined : decodePageCursor(query.cursor),
        limit: query.limit + 1,
        settleMs: SETTLE_MS,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      const lastSettled = page.findLast((row) => row.settled);
      const cursorOf = (row: { received_at: Date; id: string }) => encodePageCursor({ at: row.received_at, id: row.id });
      return {
        items: page.map((row) => row.envelope),
        nextCursor: rows.length > query.limit && last !== undefined ? cursorOf(last) : null,
        resumeCursor: lastSettled === undefined ? null : cursorOf(lastSettled),
      };
    },
  };
}
