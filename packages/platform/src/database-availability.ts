/**
 * Telling "the database is not there right now" from every other database error, and waiting it
 * out. A PostgreSQL restart, a failover or a pooler's idle timeout breaks connections in use and
 * refuses new ones for a while; the work that hit it is not wrong, only early. Callers retry it
 * (consumers in place, so a held message does not burn its delivery limit), HTTP answers 503 with
 * `Retry-After`, and readiness names the database, instead of a crash or a dead letter.
 */
import { jitteredDelay } from './backoff.ts';
import type { Logger } from './logger.ts';

/** A connection to PostgreSQL could not be had; `code` is the cause's (`ECONNREFUSED`, `57P03` …). */
export class DatabaseUnavailableError extends Error {
  readonly code: string | undefined;

  constructor(cause: unknown) {
    super('database unavailable', { cause });
    this.name = 'DatabaseUnavailableError';
    const code = (cause as { code?: unknown } | null)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/**
 * SQLSTATEs and socket errors that mean the server went away or is not accepting connections
 * yet: class 08 (connection exception) is matched by prefix.
 */
const UNAVAILABLE_CODES: ReadonlySet<string> = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend, a fast shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '53300', // too_many_connections
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** What node-postgres says when a connection dies under a query or is used after it died. */
const UNAVAILABLE_MESSAGES = [/connection terminated/i, /not queryable/i, /timeout exceeded when trying to connect/i, /server closed the connection unexpectedly/i];

/** True when `error` (or one of its causes) says the database is unreachable rather than that the work is wrong. */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth += 1) {
    if (current instanceof DatabaseUnavailableError) return true;
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export interface OutageRetryOptions {
  logger: Logger;
  /** What is waiting, for the log: `projecting event 3f…`, `recording delivery 9a…`. */
  what: string;
  /** Checked before each retry; false gives up with the last error (shutdown, a lease about to expire). */
  shouldContinue?: () => boolean;
  initialDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
}

/**
 * Runs `work`, and while it fails because the database is unavailable, runs it again after a
 * jittered, growing delay (100 ms up to 2 s by default). Any other error is thrown at once. `work`
 * must be safe to repeat: a transaction the outage interrupted was rolled back by PostgreSQL.
 */
export async function retryWhileDatabaseUnavailable<T>(work: () => Promise<T>, options: OutageRetryOptions): Promise<T> {
  const initialDelayMs = options.initialDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 2_000;
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const result = await work();
      if (attempt > 0) options.logger.info({ attempts: attempt + 1 }, `database back; ${options.what} went through`);
      return result;
    } catch (error) {
      if (!isDatabaseUnavailable(error) || options.shouldContinue?.() === false) throw error;
      if (attempt === 0) options.logger.warn({ err: error }, `database unavailable; ${options.what} will be retried`);
      await new Promise((resolve) => setTimeout(resolve, jitteredDelay(initialDelayMs, maxDelayMs, attempt, random)));
      if (options.shouldContinue?.() === false) throw error;
    }
  }
}
