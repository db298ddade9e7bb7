/** The registry's migrations, timestamped; the platform's outbox/inbox come first. */
import { sql, type Kysely } from 'kysely';
import { platformMigrations, type Migrations } from '@defib/platform';

export const registryMigrations: Migrations = {
  ...platformMigrations,
  '2026-11-25T0500-clouds-and-deployables': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('clouds')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('settings', 'jsonb', (c) => c.notNull())
        .addColumn('sealed_credentials', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('deployables')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('cloud', 'text', (c) => c.notNull().references('clouds.name').onDelete('restrict'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('manifest', 'jsonb', (c) => c.notNull())
        .addColumn('desired_state', 'text', (c) => c.notNull().defaultTo('stopped'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('deployables_cloud').on('deployables').columns(['cloud', 'name']).execute();
      await db.schema
        .createTable('assemblies')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('deployable_id', 'uuid', (c) => c.notNull().references('deployables.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addUniqueConstraint('assemblies_name', ['deployable_id', 'name'])
        .execute();
      await db.schema
        .createTable('resources')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('assembly_id', 'uuid', (c) => c.notNull().references('assemblies.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addUniqueConstraint('resources_name', ['assembly_id', 'name'])
        .execute();
    },
  },
  '2026-11-25T0510-observed-status': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('deployable_status')
        .addColumn('deployable_id', 'uuid', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('changed_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('assembly_status')
        .addColumn('assembly_id', 'uuid', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text')
        .addColumn('addresses', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('reason', 'text')
        .addColumn('changed_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('resource_status')
        .addColumn('resource_id', 'uuid', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('changed_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('incidents')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('deployable_id', 'uuid', (c) => c.notNull())
        .addColumn('assembly_id', 'uuid')
        .addColumn('resource_id', 'uuid')
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('step', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text')
        .addColumn('opened_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('incidents_open').on('incidents').columns(['deployable_id', 'status']).execute();
      await db.schema
        .createTable('recent_events')
        .addColumn('event_id', 'uuid', (c) => c.primaryKey())
        .addColumn('deployable_id', 'uuid', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('subject', 'jsonb', (c) => c.notNull())
        .addColumn('data', 'jsonb', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('recent_events_by_deployable').on('recent_events').columns(['deployable_id', 'occurred_at']).execute();
    },
  },
  '2026-12-02T0200-maintenance': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('deployable_maintenance')
        .addColumn('deployable_id', 'uuid', (c) => c.primaryKey().references('deployables.id').onDelete('cascade'))
        .addColumn('since', 'timestamptz', (c) => c.notNull())
        .addColumn('until', 'timestamptz')
        .addColumn('reason', 'text')
        .execute();
      await db.schema
        .createTable('assembly_maintenance')
        .addColumn('assembly_id', 'uuid', (c) => c.primaryKey().references('assemblies.id').onDelete('cascade'))
        .addColumn('deployable_id', 'uuid', (c) => c.notNull().references('deployables.id').onDelete('cascade'))
        .addColumn('since', 'timestamptz', (c) => c.notNull())
        .addColumn('until', 'timestamptz')
        .addColumn('reason', 'text')
        .execute();
      await db.schema.createIndex('assembly_maintenance_by_deployable').on('assembly_maintenance').column('deployable_id').execute();
      // The expiry sweep asks for maintenance whose end has passed.
      await db.schema.createIndex('deployable_maintenance_until').on('deployable_maintenance').column('until').execute();
      await db.schema.createIndex('assembly_maintenance_until').on('assembly_maintenance').column('until').execute();
    },
  },
};
