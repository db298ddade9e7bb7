/**
 * PostgreSQL through kysely. Each service owns one Postgres schema: its connections use that
 * schema first on their search path, its migrations are recorded in that schema, and it never
 * writes another service's tables.
 */
import { Kysely, Migrator, PostgresDialect, sql, type Migration, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import type { Logger } from './logger.ts';
import { redactUrl } from './logger.ts';
import { jitteredDelay } from './backoff.ts';
import { DatabaseUnavailableError } from './database-availability.ts';

export interface DatabaseOptions {
  url: string;
  /** The Postgres schema this service owns, e.g. `registry`. */
  schema: string;
  logger: Logger;
  poolSize?: number;
  applicationName?: string;
}

export interface Database<DB> {
  readonly db: Kysely<DB>;
  readonly pool: pg.Pool;
  readonly schema: string;
  /** Resolves when a query round-trips; used by readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

export function createDatabase<DB>(options: DatabaseOptions): Database<DB> {
  if (!SCHEMA_NAME.test(options.schema)) throw new Error(`invalid schema name: ${options.schema}`);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? `defib-${options.schema}`,
    options: `-c search_path=${options.schema},public`,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A server that vanished without closing the socket (a failover, a cut network) is noticed.
    keepAlive: true,
  });
  watchConnections(pool, options);
  // Kysely gets connections through this door, so a connection that cannot be had is reported as
  // the database being unavailable (503, retried), not as whatever the driver happened to say.
  const connections = {
    connect: () =>
      pool.connect().catch((error: unknown) => {
        throw pool.ending ? error : new DatabaseUnavailableError(error);
      }),
    end: () => pool.end(),
  };
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: connections }) });
  let closed = false;
  return {
    db,
    pool,
    schema: options.schema,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

/**
 * node-postgres emits `error` on a client whose server connection breaks, and a checked-out
 * client has no listener of its own: without one, a restart of PostgreSQL kills the process.
 * Every client of the pool gets a listener that reports the loss once, saying what it affects;
 * the pool drops the broken client (idle now, or when its holder releases it) and opens a new
 * one on demand.
 */
function watchConnections(pool: pg.Pool, options: DatabaseOptions): void {
  const inUse = new WeakSet<pg.PoolClient>();
  const database = redactUrl(options.url);
  pool.on('acquire', (client) => inUse.add(client));
  pool.on('release', (_error, client) => inUse.delete(client));
  pool.on('connect', (client) => {
    let reported = false;
    client.on('error', (error) => {
      if (reported) return;
      reported = true;
      const affects = inUse.has(client) ? 'a connection in use: its work fails and is retried' : 'an idle connection: it is replaced';
      options.logger.warn({ err: error, database, schema: options.schema, affects }, 'database connection lost');
    });
  });
  // Reported above, once per client; the pool's own event must merely not go unhandled.
  pool.on('error', () => undefined);
}

/** Timestamped migrations, keyed by name (`2026-11-25T0400-clouds`); applied in name order. */
export type Migrations = Record<string, Migration>;

export class MigrationError extends Error {
  readonly results: MigrationResultSet['results'];

  constructor(schema: string, cause: unknown, results: MigrationResultSet['results']) {
    const failed = results?.find((result) => result.status === 'Error');
    super(`migrating schema ${schema} failed${failed ? ` at ${failed.migrationName}` : ''}`, { cause });
    this.name = 'MigrationError';
    this.results = results;
  }
}

/**
 * Brings the service's schema up to date. Several processes may call this at once: kysely's
 * migrator serialises them with a Postgres advisory lock, so each migration runs exactly once.
 */
export async function migrateToLatest<DB>(database: Database<DB>, migrations: Migrations, logger: Logger): Promise<void> {
  await sql`create schema if not exists ${sql.id(database.schema)}`.execute(database.db);
  const migrator = new Migrator({
    db: database.db,
    migrationTableSchema: database.schema,
    provider: { getMigrations: () => Promise.resolve(migrations) },
  });
  const { error, results } = await migrator.migrateToLatest();
  for (const result of results ?? []) {
    if (result.status === 'Success') logger.info({ migration: result.migrationName }, 'migration applied');
  }
  if (error !== undefined) throw new MigrationError(database.schema, error, results);
}

/** True when the error is Postgres refusing a row because of a unique constraint. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

/**
 * Listens for Postgres notifications on a dedicated connection, reconnecting when it drops (with
 * a growing, jittered delay while the database stays away). `onNotify` is also called after each
 * (re)subscription, since notifications sent while nobody listened are lost.
 * Returns a function that stops listening.
 */
export async function listenForNotifications(
  pool: pg.Pool,
  channel: string,
  onNotify: () => void,
  logger: Logger,
): Promise<() => Promise<void>> {
  let client: { connection: pg.PoolClient; detach: () => void } | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let failures = 0;
  const subscribe = async () => {
    const connection = await pool.connect();
    const onNotification = (message: pg.Notification) => {
      if (message.channel === channel) onNotify();
    };
    // Once released (by a failure here or by unlisten) the connection is the pool's again: this
    // listener must not outlive that, or a later error would release it a second time.
    const onError = (error: Error) => {
      detach();
      logger.warn({ err: error, channel }, 'notification connection failed; resubscribing');
      if (client?.connection === connection) client = undefined;
      connection.release(error);
      scheduleRetry();
    };
    const detach = () => {
      connection.removeListener('notification', onNotification);
      connection.removeListener('error', onError);
    };
    connection.on('notification', onNotification);
    connection.on('error', onError);
    try {
      await connection.query(`listen ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      detach();
      connection.release(error as Error);
      throw error;
    }
    client = { connection, detach };
    if (failures > 0) logger.info({ channel, attempts: failures }, 'notification connection back; listening again');
    failures = 0;
    // Anything that happened while we were not listening is picked up by the next poll.
    onNotify();
  };
  const scheduleRetry = () => {
    if (stopped || retry !== undefined) return;
    // Every replica lost it at the same moment: jitter spreads their reconnections out.
    retry = setTimeout(() => {
      retry = undefined;
      subscribe().catch(() => scheduleRetry());
    }, jitteredDelay(200, 3_000, failures));
    failures += 1;
  };
  await subscribe();
  return async () => {
    stopped = true;
    if (retry !== undefined) clearTimeout(retry);
    const current = client;
    client = undefined;
    if (current === undefined) return;
    await current.connection.query(`unlisten ${pg.escapeIdentifier(channel)}`).catch(() => undefined);
    current.detach();
    current.connection.release();
  };
}
