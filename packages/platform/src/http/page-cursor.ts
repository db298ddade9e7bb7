/**
 * Keyset paging for lists ordered by a time then an id (a delivery's creation, an incident's
 * opening): the query fields every paged list takes, and cursors that are opaque to clients. A
 * cursor that was not handed out by a previous page is a 400 naming `query.cursor`.
 *
 * A cursor keeps its time to the millisecond (a JavaScript `Date`): a list whose times carry
 * microseconds can skip rows that share the cursor row's millisecond.
 */
import { z } from 'zod';
import { AppError } from './errors.ts';

/** Where a page ended: the last row's time and id. */
export interface PagePosition {
  at: Date;
  id: string;
}

export function encodePageCursor(position: PagePosition): string {
  return Buffer.from(`${position.at.toISOString()}|${position.id}`, 'utf8').toString('base64url');
}

export function decodePageCursor(cursor: string): PagePosition {
  const [text = '', id = ''] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const at = new Date(text);
  if (Number.isNaN(at.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw AppError.validation([{ path: 'query.cursor', message: 'must be the nextCursor of a previous page' }]);
  }
  return { at, id };
}

const TIMESTAMP_MESSAGE = 'must be an ISO 8601 time with a zone, such as 2026-11-26T10:00:00Z';

/** A time in a query string (`since`, `until`), as a `Date`. */
export const timestampParameter = z.iso
  .datetime({ offset: true, error: (issue) => (issue.input === undefined ? undefined : TIMESTAMP_MESSAGE) })
  .transform((text) => new Date(text));

/** The query fields of every paged list: `limit` (1–200, 50 by default) and the previous page's `cursor`. */
export const pageQueryFields = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
};
