/**
 * Keyset-pagination cursors for lists ordered by creation time then id: opaque to clients, and a
 * cursor that was not handed out by a previous page is a 400 naming `query.cursor`.
 */
import { AppError } from '@defib/platform';

export function encodeCursor(row: { created_at: Date; id: string }): string {
  return Buffer.from(`${row.created_at.toISOString()}|${row.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at = '', id = ''] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw AppError.validation([{ path: 'query.cursor', message: 'must be the nextCursor of a previous page' }]);
  }
  return { createdAt, id };
}
