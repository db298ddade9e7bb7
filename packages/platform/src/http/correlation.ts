/**
 * Correlation ids at the HTTP edge: a caller may pass its own in `X-Correlation-Id` (so one id
 * follows a request through several services); anything absent or odd is replaced by a UUID.
 */
import { randomUUID } from 'node:crypto';

export const CORRELATION_HEADER = 'X-Correlation-Id';

const SANE_CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's correlation id when it is sane (≤ 128 of `[A-Za-z0-9._:-]`), else a new UUID. */
export function acceptCorrelationId(header: string | readonly string[] | undefined): string {
  const value = typeof header === 'string' ? header.trim() : undefined;
  return value !== undefined && SANE_CORRELATION_ID.test(value) ? value : randomUUID();
}
