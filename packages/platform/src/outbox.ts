/**
 * Transactional outbox and inbox.
 *
 * A service writes the events of a state change in the same transaction as the change
 * (`enqueueEvents`), so a crash can never keep one without the other. The relay publishes
 * pending rows with publisher confirms and marks them sent only after the broker acks; several
 * relays may run at once (`FOR UPDATE SKIP LOCKED`). A crash between the ack and the mark means
 * the event is published again, which is why every consumer goes through the inbox
 * (`handleOnce`): it records processed event ids in the consumer's own transaction.
 */
import { sql, type ColumnType, type Kysely, type Migration, type Transaction } from 'kysely';
import type { Bus } from './bus.ts';
import { jitteredDelay } from './backoff.ts';
import { leaseMigrations } from './lease.ts';
import type { Logger } from './logger.ts';

/** An event as the outbox stores it: the full envelope, published as is. */
export interface OutboxEvent {
  id: string;
  type: string;
  correlationId?: string | undefined;
}

export interface OutboxTable {
  id: string;
  type: string;
  event: ColumnType<unknown, string, string>;
  created_at: ColumnType<Date, never, never>;
  published_at: ColumnType<Date | null, never, Date>;
  attempts: ColumnType<number, never, number>;
  last_error: string | null;
}

export interface InboxTable {
  event_id: string;
  type: string;
  processed_at: ColumnType<Date, never, never>;
}

/** Tables every service gets alongside its own. */
export interface PlatformTables {
  outbox: OutboxTable;
  inbox: InboxTable;
}

/** The platform's own migrations; services merge them into theirs. */
export const platformMigrations: Record<string, Migration> = {
  '2026-11-25T0000-platform-outbox-inbox': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'uuid', (column) => column.primaryKey())
        .addColumn('type', 'text', (column) => column.notNull())
        .addColumn('event', 'jsonb', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`clock_timestamp()`))
        .addColumn('published_at', 'timestamptz')
        .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .execute();
      await db.schema.createIndex('outbox_pending').on('outbox').column('created_at').where(sql.ref('published_at'), 'is', null).execute();
      await db.schema
        .createTable('inbox')
        .addColumn('event_id', 'uuid', (column) => column.primaryKey())
        .addColumn('type', 'text', (column) => column.notNull())
        .addColumn('processed_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
        .execute();
    },
  },
  ...leaseMigrations,
};

function channelFor(schema: string): string {
  return `${schema}_outbox`;
}

/** Writes events in the caller's transaction and wakes the relay once it commits. */
export async function enqueueEvents<DB extends PlatformTables>(trx: Transaction<DB>, schema: string, events: readonly OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  const outbox = trx as unknown as Transaction<PlatformTables>;
  await outbox
    .insertInto('outbox')
    .values(events.map((event) => ({ id: event.id, type: event.type, event: JSON.stringify(event) })))
    .execute();
  await sql`select pg_notify(${channelFor(schema)}, '')`.execute(outbox);
}

/**
 * A service's outbox: `enqueue` writes events in the caller's transaction, so they are published
 * if and only if the state change commits. The kernel builds one per service (`kernel.outbox`).
 */
export interface Outbox<DB extends PlatformTables> {
  enqueue(trx: Transaction<DB>, events: readonly OutboxEvent[]): Promise<void>;
}

/** The outbox of the service owning `schema`. */
export function createOutbox<DB extends PlatformTables>(schema: string): Outbox<DB> {
  return { enqueue: (trx, events) => enqueueEvents(trx, schema, events) };
}

export interface OutboxRelayOptions {
  db: Kysely<PlatformTables>;
  /** A dedicated connection for LISTEN; the relay also polls, so it works without one. */
  listen?: (channel: string, onNotify: () => void) => Promise<() => Promise<void>>;
  schema: string;
  bus: Bus;
  logger: Logger;
  batchSize?: number;
  pollIntervalMs?: number;
  /** Routing key for a stored event; the event type by default. */
  routingKeyFor?: (event: OutboxEvent) => string;
  /** Called after each batch is marked sent (metrics, tests). */
  onPublished?: (count: number) => void;
  /**
   * Called with the ids the broker confirmed, before they are marked sent: the window in which a
   * crash publishes them again. Tests stand a crash there by throwing (the marking rolls back).
   */
  beforeMarkingSent?: (ids: readonly string[]) => Promise<void> | void;
}

/** Publishes pending outbox rows until stopped. */
export class OutboxRelay {
  private readonly options: OutboxRelayOptions;
  private readonly logger: Logger;
  private running = false;
  private wake: (() => void) | undefined;
  private pending = false;
  private loop: Promise<void> | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private failures = 0;

  constructor(options: OutboxRelayOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: 'outbox-relay' });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.options.listen !== undefined) {
      this.unlisten = await this.options.listen(channelFor(this.options.schema), () => this.poke());
    }
    this.loop = this.run();
  }

  /** Asks the relay to look for work now. */
  poke(): void {
    this.pending = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.unlisten?.();
  }

  /** Publishes one batch; says how many rows it marked sent and how many the broker refused. */
  async publishBatch(): Promise<{ sent: number; failed: number }> {
    const { db, bus } = this.options;
    const routingKeyFor = this.options.routingKeyFor ?? ((event: OutboxEvent) => event.type);
    return db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('outbox')
        .select(['id', 'type', 'event'])
        .where('published_at', 'is', null)
        .orderBy('created_at')
        .limit(this.options.batchSize ?? 100)
        .forUpdate()
        .skipLocked()
        .execute();
      if (rows.length === 0) return { sent: 0, failed: 0 };
      const results = await Promise.allSettled(
        rows.map((row) => {
          const event = row.event as OutboxEvent;
          return bus.publish({ id: row.id, routingKey: routingKeyFor(event), body: event, type: row.type, correlationId: event.correlationId });
        }),
      );
      const sent = rows.filter((_, index) => results[index]?.status === 'fulfilled').map((row) => row.id);
      const failed = rows.filter((_, index) => results[index]?.status === 'rejected');
      if (sent.length > 0) await this.options.beforeMarkingSent?.(sent);
      if (sent.length > 0) {
        await trx.updateTable('outbox').set({ published_at: new Date() }).where('id', 'in', sent).execute();
      }
      for (const row of failed) {
        const index = rows.indexOf(row);
        const result = results[index];
        const reason = result?.status === 'rejected' ? String((result.reason as Error).message ?? result.reason) : 'unknown';
        await trx
          .updateTable('outbox')
          .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: reason }))
          .where('id', '=', row.id)
          .execute();
      }
      return { sent: sent.length, failed: failed.length };
    });
  }

  private async run(): Promise<void> {
    const pollIntervalMs = this.options.pollIntervalMs ?? 1_000;
    while (this.running) {
      this.pending = false;
      let published = 0;
      try {
        const batch = await this.publishBatch();
        published = batch.sent;
        if (published > 0) this.options.onPublished?.(published);
        if (batch.failed > 0) throw new Error(`${batch.failed} events were not confirmed by the broker`);
        this.failures = 0;
      } catch (error) {
        this.failures += 1;
        this.logger.warn({ err: error, failures: this.failures }, 'outbox relay could not publish; will retry');
      }
      if (!this.running) break;
      if (published > 0 && this.failures === 0) continue;
      // Capped at a few seconds: once the database or the broker is back, committed events go out
      // promptly (a LISTEN reconnection also wakes the relay at once).
      const delay = this.failures > 0 ? jitteredDelay(250, 5_000, this.failures - 1) : pollIntervalMs;
      if (this.pending && this.failures === 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}

/** Oldest unpublished event's age in seconds, for metrics and readiness. */
export async function outboxLagSeconds(db: Kysely<PlatformTables>): Promise<number> {
  const row = await db
    .selectFrom('outbox')
    .select(sql<number>`coalesce(extract(epoch from clock_timestamp() - min(created_at)), 0)::float8`.as('lag'))
    .where('published_at', 'is', null)
    .executeTakeFirstOrThrow();
  return row.lag;
}

/**
 * Runs `work` at most once per event id: the id is recorded in the consumer's transaction, so
 * a redelivered event (or one published twice by a relay that crashed) has no second effect.
 * Returns false when the event had already been processed.
 */
export async function handleOnce<DB extends PlatformTables>(
  db: Kysely<DB>,
  event: { id: string; type: string },
  work: (trx: Transaction<DB>) => Promise<void>,
): Promise<boolean> {
  return (db as unknown as Kysely<PlatformTables>).transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('inbox')
      .values({ event_id: event.id, type: event.type })
      .onConflict((conflict) => conflict.column('event_id').doNothing())
      .returning('event_id')
      .executeTakeFirst();
    if (inserted === undefined) return false;
    await work(trx as unknown as Transaction<DB>);
    return true;
  });
}
