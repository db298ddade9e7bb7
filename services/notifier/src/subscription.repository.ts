/** Stored subscriptions. Secrets stay sealed here; the catalogue and the worker open them. */
import { sql, type Kysely } from 'kysely';
import type { PagePosition } from '@defib/platform';
import type { FailureReason, NewSubscription, NotifierTables, SubscriptionKind, SubscriptionRow, SubscriptionUpdate } from './tables.ts';

export type Executor = Kysely<NotifierTables>;

export interface SubscriptionPage {
  kind?: SubscriptionKind | undefined;
  enabled?: boolean | undefined;
  /** Rows after this (created_at, id), oldest first. */
  after?: PagePosition | undefined;
  limit: number;
}

export const subscriptionRepository = {
  async insert(db: Executor, subscription: NewSubscription): Promise<SubscriptionRow> {
    return db.insertInto('subscriptions').values(subscription).returningAll().executeTakeFirstOrThrow();
  },

  find(db: Executor, id: string): Promise<SubscriptionRow | undefined> {
    return db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
  },

  findMany(db: Executor, ids: readonly string[]): Promise<SubscriptionRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return db.selectFrom('subscriptions').selectAll().where('id', 'in', ids).execute();
  },

  /** Locks the row for the rest of the transaction. */
  findForUpdate(db: Executor, id: string): Promise<SubscriptionRow | undefined> {
    return db.selectFrom('subscriptions').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  },

  list(db: Executor, page: SubscriptionPage): Promise<SubscriptionRow[]> {
    let query = db.selectFrom('subscriptions').selectAll();
    if (page.kind !== undefined) query = query.where('kind', '=', page.kind);
    if (page.enabled !== undefined) query = query.where('enabled', '=', page.enabled);
    if (page.after !== undefined) query = query.where(sql<boolean>`(created_at, id) > (${page.after.at}, ${page.after.id}::uuid)`);
    return query.orderBy('created_at').orderBy('id').limit(page.limit).execute();
  },

  /** The subscriptions events are matched against, in id order (so concurrent intakes lock in the same order). */
  listEnabled(db: Executor): Promise<SubscriptionRow[]> {
    return db.selectFrom('subscriptions').selectAll().where('enabled', '=', true).orderBy('id').execute();
  },

  async update(db: Executor, id: string, changes: SubscriptionUpdate): Promise<SubscriptionRow | undefined> {
    return db
      .updateTable('subscriptions')
      .set({ ...changes, updated_at: sql<Date>`clock_timestamp()` })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  },

  /** Deletes the subscription with its deliveries, attempts and bucket. */
  async remove(db: Executor, id: string): Promise<boolean> {
    const result = await db.deleteFrom('subscriptions').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  },

  /** Ends a webhook's run of failures (it just delivered). */
  async clearFailures(db: Executor, id: string): Promise<void> {
    await db.updateTable('subscriptions').set({ consecutive_failures: 0, failing_since: null }).where('id', '=', id).execute();
  },

  /** Counts one more failure into an enabled webhook's run; says how long the run is now (nothing when disabled meanwhile). */
  countFailure(db: Executor, id: string): Promise<Pick<SubscriptionRow, 'consecutive_failures' | 'failing_since'> | undefined> {
    return db
      .updateTable('subscriptions')
      .set({ consecutive_failures: sql<number>`consecutive_failures + 1`, failing_since: sql<Date>`coalesce(failing_since, clock_timestamp())` })
      .where('id', '=', id)
      .where('enabled', '=', true)
      .returning(['consecutive_failures', 'failing_since'])
      .executeTakeFirst();
  },

  /**
   * Disables a subscription and gives up its pending deliveries (a notice to its owner excepted),
   * so nothing is sent to an endpoint that should not be called. Returns the deliveries given up.
   */
  async disable(db: Executor, id: string, reason: string): Promise<{ id: string; attempts: number }[]> {
    // Deliveries first, then the subscription: the order a worker recording an attempt locks them
    // in, so disabling while an attempt is recorded waits instead of deadlocking.
    const failure: FailureReason = 'disabled';
    const givenUp = await db
      .updateTable('deliveries')
      .set({
        status: 'failed',
        failure_reason: failure,
        last_error: `subscription disabled: ${reason}`.slice(0, 2048),
        failed_at: sql<Date>`clock_timestamp()`,
        next_attempt_at: null,
        sealed_at: sql<Date>`coalesce(sealed_at, clock_timestamp())`,
        updated_at: sql<Date>`clock_timestamp()`,
      })
      .where('subscription_id', '=', id)
      .where('status', '=', 'pending')
      .where('mode', '!=', 'notice')
      .returning(['id', 'attempts'])
      .execute();
    await db
      .updateTable('subscriptions')
      .set({ enabled: false, disabled_reason: reason, disabled_at: sql<Date>`clock_timestamp()`, updated_at: sql<Date>`clock_timestamp()` })
      .where('id', '=', id)
      .execute();
    return givenUp;
  },
};
