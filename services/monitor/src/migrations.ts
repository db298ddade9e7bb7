/** The monitor's migrations, timestamped; the platform's outbox, inbox and leases and the cloud connections come first. */
import { cloudConnectionMigrations } from '@defib/clouds';
import { platformMigrations, type Migrations } from '@defib/platform';
import { sql, type Kysely } from 'kysely';

/** Every change to what is watched or to a cloud view takes the next value, so replicas follow by revision. */
export const WATCH_REVISION_SEQUENCE = 'watch_revision';

export const monitorMigrations: Migrations = {
  ...platformMigrations,
  ...cloudConnectionMigrations,
  '2026-12-02T0000-monitor-watch': {
    async up(db: Kysely<unknown>) {
      await sql`create sequence ${sql.id(WATCH_REVISION_SEQUENCE)}`.execute(db);
      const revision = sql`nextval(${sql.lit(WATCH_REVISION_SEQUENCE)})`;
      await db.schema
        .createTable('watched_deployables')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('cloud', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('running', 'stopping', 'stopped', 'deleted')`))
        .addColumn('revision', 'bigint', (c) => c.notNull().defaultTo(revision))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
        .execute();
      await db.schema
        .createTable('watched_assemblies')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('deployable_id', 'uuid', (c) => c.notNull())
        .addColumn('deployable', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('cloud', 'text', (c) => c.notNull())
        .addColumn('interval_ms', 'integer', (c) => c.notNull())
        .addColumn('missed', 'integer', (c) => c.notNull())
        .addColumn('resources', 'jsonb', (c) => c.notNull())
        .addColumn('instance_id', 'text')
        .addColumn('addresses', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('launched_at', 'timestamptz')
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('awaiting-launch', 'launched', 'stopped', 'removed')`))
        .addColumn('revision', 'bigint', (c) => c.notNull().defaultTo(revision))
        .execute();
      await db.schema.createIndex('watched_assemblies_by_deployable').on('watched_assemblies').column('deployable_id').execute();
      await db.schema.createIndex('watched_assemblies_by_revision').on('watched_assemblies').column('revision').execute();
      await db.schema.createIndex('watched_deployables_by_revision').on('watched_deployables').column('revision').execute();
      await db.schema
        .createTable('cloud_views')
        .addColumn('instance_id', 'text', (c) => c.primaryKey())
        .addColumn('cloud', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('cloud_status', 'text', (c) => c.notNull())
        .addColumn('health', 'jsonb')
        .addColumn('addresses', 'jsonb', (c) => c.notNull())
        .addColumn('zone', 'text')
        .addColumn('host_id', 'text')
        .addColumn('observed_at', 'timestamptz', (c) => c.notNull())
        .addColumn('state_since', 'timestamptz')
        .addColumn('revision', 'bigint', (c) => c.notNull().defaultTo(revision))
        .execute();
      await db.schema.createIndex('cloud_views_by_revision').on('cloud_views').column('revision').execute();
      await db.schema
        .createTable('verdicts')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('event_id', 'uuid', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('deployable_id', 'uuid', (c) => c.notNull())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('emitted_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
        .execute();
      await db.schema.createIndex('verdicts_by_time').on('verdicts').column('emitted_at').execute();
    },
  },
};
