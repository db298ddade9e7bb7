/** Each subscription target's storm-control bucket. */
import { sql } from 'kysely';
import type { Executor } from './delivery.repository.ts';
import type { StormBucketRow } from './tables.ts';

export const stormBucketRepository = {
  /** Serialises storm-control decisions for one subscription target until the transaction ends. */
  async lockTarget(db: Executor, subscriptionId: string, target: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`storm:${subscriptionId}:${target}`}, 0))`.execute(db);
  },

  /** The target's bucket, locked for the rest of the transaction. */
  findForUpdate(db: Executor, subscriptionId: string, target: string): Promise<Pick<StormBucketRow, 'tokens' | 'refilled_at'> | undefined> {
    return db.selectFrom('storm_buckets').select(['tokens', 'refilled_at']).where('subscription_id', '=', subscriptionId).where('target', '=', target).forUpdate().executeTakeFirst();
  },

  async store(db: Executor, bucket: StormBucketRow): Promise<void> {
    await db
      .insertInto('storm_buckets')
      .values(bucket)
      .onConflict((conflict) => conflict.columns(['subscription_id', 'target']).doUpdateSet({ tokens: bucket.tokens, refilled_at: bucket.refilled_at }))
      .execute();
  },
};
