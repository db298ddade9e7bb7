/**
 * Stored deliveries and attempts. Workers claim due deliveries with `FOR UPDATE SKIP LOCKED` and a
 * lease (`locked_until`, `lease_token`): two replicas never claim the same delivery, and a crashed
 * worker's claim expires so another one retries it. Outcomes are written only under the lease that
 * was claimed.
 */
import type { DomainEvent } from '@defib/contracts';
import { sql, type Kysely } from 'kysely';
import type { AttemptRow, DeliveryRow, DeliveryStatus, NotifierTables } from './tables.ts';

export type Executor = Kysely<NotifierTables>;

const ms = (value: number) => sql<Date>`clock_timestamp() + ${value} * interval '1 millisecond'`;

export interface DeliveryFilter {
  subscriptionId?: string | undefined;
  status?: DeliveryStatus | undefined;
  eventType?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Rows before this (created_at, id): newest first. */
  before?: { createdAt: Date; id: string } | undefined;
  limit: number;
}

export const deliveryRepository = {
  /**
   * Claims up to `limit` due deliveries of enabled subscriptions (notices to owners go out even for
   * disabled ones), sealing groups so no more events join them.
   */
  async claimDue(db: Executor, input: { limit: number; leaseMs: number; leaseToken: string; worker: string }): Promise<DeliveryRow[]> {
    return db
      .updateTable('deliveries')
      .set({
        locked_until: ms(input.leaseMs),
        lease_token: input.leaseToken,
        locked_by: input.worker,
        sealed_at: sql<Date>`coalesce(sealed_at, clock_timestamp())`,
      })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('deliveries as d')
          .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
          .select('d.id')
          .where('d.status', '=', 'pending')
          .where('d.next_attempt_at', '<=', sql<Date>`clock_timestamp()`)
          .where((inner) => inner.or([inner('d.locked_until', 'is', null), inner('d.locked_until', '<', sql<Date>`clock_timestamp()`)]))
          .where((inner) => inner.or([inner('s.enabled', '=', true), inner('d.mode', '=', 'notice')]))
          .orderBy('d.next_attempt_at')
          .limit(input.limit)
          .forUpdate('d')
          .skipLocked(),
      )
      .returningAll()
      .execute();
  },

  /** Milliseconds until the next pending delivery falls due (or its lease expires); undefined when none. */
  async msUntilNextDue(db: Executor): Promise<number | undefined> {
    const row = await db
      .selectFrom('deliveries as d')
      .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
      .select(sql<number | null>`extract(epoch from min(greatest(d.next_attempt_at, coalesce(d.locked_until, d.next_attempt_at))) - clock_timestamp()) * 1000`.as('ms'))
      .where('d.status', '=', 'pending')
      .where((eb) => eb.or([eb('s.enabled', '=', true), eb('d.mode', '=', 'notice')]))
      .executeTakeFirst();
    return row?.ms === null || row?.ms === undefined ? undefined : Math.max(0, Number(row.ms));
  },

  /** The events a delivery carries, oldest first. */
  async eventsOf(db: Executor, deliveryId: string): Promise<DomainEvent[]> {
    const rows = await db
      .selectFrom('delivery_events as de')
      .innerJoin('events as e', 'e.id', 'de.event_id')
      .select(['e.envelope'])
      .where('de.delivery_id', '=', deliveryId)
      .orderBy('e.occurred_at')
      .orderBy('e.id')
      .execute();
    return rows.map((row) => row.envelope as DomainEvent);
  },

  /** The events of several deliveries, each list oldest first. */
  async eventsOfMany(db: Executor, deliveryIds: readonly string[]): Promise<Map<string, DomainEvent[]>> {
    const events = new Map<string, DomainEvent[]>();
    if (deliveryIds.length === 0) return events;
    const rows = await db
      .selectFrom('delivery_events as de')
      .innerJoin('events as e', 'e.id', 'de.event_id')
      .select(['de.delivery_id', 'e.envelope'])
      .where('de.delivery_id', 'in', deliveryIds)
      .orderBy('e.occurred_at')
      .orderBy('e.id')
      .execute();
    for (const row of rows) {
      const list = events.get(row.delivery_id) ?? [];
      list.push(row.envelope as DomainEvent);
      events.set(row.delivery_id, list);
    }
    return events;
  },

  /** Event ids and types per delivery, for the delivery log. */
  async eventSummaries(db: Executor, deliveryIds: readonly string[]): Promise<Map<string, { id: string; type: string; occurredAt: Date }[]>> {
    const summaries = new Map<string, { id: string; type: string; occurredAt: Date }[]>();
    if (deliveryIds.length === 0) return summaries;
    const rows = await db
      .selectFrom('delivery_events as de')
      .innerJoin('events as e', 'e.id', 'de.event_id')
      .select(['de.delivery_id', 'e.id', 'e.type', 'e.occurred_at'])
      .where('de.delivery_id', 'in', deliveryIds)
      .orderBy('e.occurred_at')
      .orderBy('e.id')
      .execute();
    for (const row of rows) {
      const list = summaries.get(row.delivery_id) ?? [];
      list.push({ id: row.id, type: row.type, occurredAt: row.occurred_at });
      summaries.set(row.delivery_id, list);
    }
    return summaries;
  },

  /** The delivery, locked, if `leaseToken` still holds it. */
  findLeased(db: Executor, id: string, leaseToken: string): Promise<DeliveryRow | undefined> {
    return db.selectFrom('deliveries').selectAll().where('id', '=', id).where('lease_token', '=', leaseToken).forUpdate().executeTakeFirst();
  },

  find(db: Executor, id: string): Promise<DeliveryRow | undefined> {
    return db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  },

  list(db: Executor, filter: DeliveryFilter): Promise<DeliveryRow[]> {
    let query = db.selectFrom('deliveries').selectAll('deliveries');
    if (filter.subscriptionId !== undefined) query = query.where('subscription_id', '=', filter.subscriptionId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.since !== undefined) query = query.where('created_at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('created_at', '<', filter.until);
    if (filter.eventType !== undefined) {
      const eventType = filter.eventType;
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('delivery_events as de')
            .innerJoin('events as e', 'e.id', 'de.event_id')
            .select(sql`1`.as('one'))
            .whereRef('de.delivery_id', '=', 'deliveries.id')
            .where('e.type', '=', eventType),
        ),
      );
    }
    if (filter.before !== undefined) query = query.where(sql<boolean>`(deliveries.created_at, deliveries.id) < (${filter.before.createdAt}, ${filter.before.id}::uuid)`);
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  },

  attemptsOf(db: Executor, deliveryId: string): Promise<AttemptRow[]> {
    return db.selectFrom('attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('number').execute();
  },

  /** Puts a delivery back in the queue, due now, with a fresh schedule; refused while an attempt holds it. */
  async requeue(db: Executor, id: string): Promise<DeliveryRow | undefined> {
    return db
      .updateTable('deliveries')
      .set({
        status: 'pending',
        schedule_attempts: 0,
        next_attempt_at: sql<Date>`clock_timestamp()`,
        sealed_at: sql<Date>`coalesce(sealed_at, clock_timestamp())`,
        failure_reason: null,
        failed_at: null,
        updated_at: sql<Date>`clock_timestamp()`,
      })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`clock_timestamp()`)]))
      .returningAll()
      .executeTakeFirst();
  },

  /** Requeues a subscription's failed deliveries created since `since`; says how many. */
  async requeueFailed(db: Executor, subscriptionId: string, since: Date): Promise<number> {
    const rows = await db
      .updateTable('deliveries')
      .set({
        status: 'pending',
        schedule_attempts: 0,
        next_attempt_at: sql<Date>`clock_timestamp()`,
        failure_reason: null,
        failed_at: null,
        updated_at: sql<Date>`clock_timestamp()`,
      })
      .where('subscription_id', '=', subscriptionId)
      .where('status', '=', 'failed')
      .where('mode', '!=', 'notice')
      .where('created_at', '>=', since)
      .returning('id')
      .execute();
    return rows.length;
  },

  /** Seconds since the oldest pending delivery of an enabled subscription was created. */
  async oldestPendingSeconds(db: Executor): Promise<number> {
    const row = await db
      .selectFrom('deliveries as d')
      .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
      .select(sql<number>`coalesce(extract(epoch from clock_timestamp() - min(d.created_at)), 0)::float8`.as('age'))
      .where('d.status', '=', 'pending')
      .where('s.enabled', '=', true)
      .executeTakeFirstOrThrow();
    return row.age;
  },

  /** Removes finished deliveries older than `retentionMs`, and events no delivery refers to any more. */
  async prune(db: Executor, retentionMs: number): Promise<number> {
    const removed = await db
      .deleteFrom('deliveries')
      .where('status', 'in', ['delivered', 'failed'])
      .where('updated_at', '<', sql<Date>`clock_timestamp() - ${retentionMs} * interval '1 millisecond'`)
      .executeTakeFirst();
    await db
      .deleteFrom('events')
      .where('received_at', '<', sql<Date>`clock_timestamp() - ${retentionMs} * interval '1 millisecond'`)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('delivery_events').select('delivery_id').whereRef('delivery_events.event_id', '=', 'events.id'))))
      .execute();
    return Number(removed.numDeletedRows);
  },
};

export { ms as fromNow };
