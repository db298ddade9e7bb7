/** The notifier's migrations, timestamped; the platform's outbox/inbox come first. */
import { sql, type Kysely } from 'kysely';
import { platformMigrations, type Migrations } from '@defib/platform';

export const notifierMigrations: Migrations = {
  ...platformMigrations,
  '2026-11-26T0100-subscriptions-and-deliveries': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('subscriptions')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('webhook', 'email')`))
        .addColumn('name', 'text')
        .addColumn('url', 'text')
        .addColumn('hook', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('event_types', sql`text[]`, (c) => c.notNull())
        .addColumn('deployables', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('recipients', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('digest_window_ms', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('owner_email', 'text')
        .addColumn('sealed_secret', 'text')
        .addColumn('sealed_previous_secret', 'text')
        .addColumn('previous_secret_expires_at', 'timestamptz')
        .addColumn('rate_limit', 'jsonb')
        .addColumn('storm_control', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('disabled_reason', 'text')
        .addColumn('disabled_at', 'timestamptz')
        .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failing_since', 'timestamptz')
        // Milliseconds, like a JavaScript Date, so a page cursor names a row exactly.
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`date_trunc('milliseconds', clock_timestamp())`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
        .execute();
      await db.schema.createIndex('subscriptions_listing').on('subscriptions').columns(['created_at', 'id']).execute();

      await db.schema
        .createTable('storm_buckets')
        .addColumn('subscription_id', 'uuid', (c) => c.notNull().references('subscriptions.id').onDelete('cascade'))
        .addColumn('target', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('storm_buckets_pk', ['subscription_id', 'target'])
        .addColumn('tokens', 'float8', (c) => c.notNull())
        .addColumn('refilled_at', 'timestamptz', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('events')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
        .addColumn('envelope', 'jsonb', (c) => c.notNull())
        .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
        .execute();

      await db.schema
        .createTable('deliveries')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('subscription_id', 'uuid', (c) => c.notNull().references('subscriptions.id').onDelete('cascade'))
        .addColumn('channel', 'text', (c) => c.notNull().check(sql`channel in ('webhook', 'email')`))
        .addColumn('target', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('mode', 'text', (c) => c.notNull().check(sql`mode in ('single', 'group', 'notice')`))
        .addColumn('group_key', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('event_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('notice', 'jsonb')
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending', 'delivered', 'failed')`))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('schedule_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'timestamptz')
        .addColumn('sealed_at', 'timestamptz')
        .addColumn('locked_until', 'timestamptz')
        .addColumn('lease_token', 'uuid')
        .addColumn('locked_by', 'text')
        .addColumn('last_error', 'text')
        .addColumn('last_status_code', 'integer')
        .addColumn('failure_reason', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`date_trunc('milliseconds', clock_timestamp())`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
        .addColumn('delivered_at', 'timestamptz')
        .addColumn('failed_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('deliveries_due').on('deliveries').column('next_attempt_at').where(sql.ref('status'), '=', 'pending').execute();
      // At most one open group per subscription target and topic: events join it with one upsert.
      await db.schema
        .createIndex('deliveries_open_group')
        .on('deliveries')
        .columns(['subscription_id', 'target', 'group_key'])
        .unique()
        .where(sql<boolean>`mode = 'group' and sealed_at is null`)
        .execute();
      await db.schema.createIndex('deliveries_listing').on('deliveries').columns(['created_at', 'id']).execute();
      await db.schema.createIndex('deliveries_by_subscription').on('deliveries').columns(['subscription_id', 'status', 'created_at']).execute();

      await db.schema
        .createTable('delivery_events')
        .addColumn('delivery_id', 'uuid', (c) => c.notNull().references('deliveries.id').onDelete('cascade'))
        .addColumn('event_id', 'uuid', (c) => c.notNull().references('events.id').onDelete('cascade'))
        .addColumn('subscription_id', 'uuid', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('delivery_events_pk', ['delivery_id', 'event_id'])
        // One delivery per (event, subscription target), however often the event arrives.
        .addUniqueConstraint('delivery_events_once', ['subscription_id', 'target', 'event_id'])
        .execute();
      await db.schema.createIndex('delivery_events_by_event').on('delivery_events').column('event_id').execute();

      await db.schema
        .createTable('attempts')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('delivery_id', 'uuid', (c) => c.notNull().references('deliveries.id').onDelete('cascade'))
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('latency_ms', 'float8', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('worker', 'text', (c) => c.notNull())
        .addUniqueConstraint('attempts_number', ['delivery_id', 'number'])
        .execute();
    },
  },
  '2026-12-02T0300-event-log': {
    async up(db: Kysely<unknown>) {
      // Every consumed event is kept now (the event log, GET /v1/events), listed by arrival: times
      // to the millisecond, like a JavaScript Date, so a page cursor names a row exactly.
      await sql`update events set received_at = date_trunc('milliseconds', received_at)`.execute(db);
      await db.schema.alterTable('events').alterColumn('received_at', (c) => c.setDefault(sql`date_trunc('milliseconds', clock_timestamp())`)).execute();
      await db.schema.createIndex('events_listing').on('events').columns(['received_at', 'id']).execute();
    },
  },
};
