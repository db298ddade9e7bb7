/** Recovery's migrations, timestamped; the platform's outbox, inbox and leases and the cloud connections come first. */
import { cloudConnectionMigrations } from '@defib/clouds';
import { platformMigrations, type Migrations } from '@defib/platform';
import { sql, type Kysely } from 'kysely';

const now = sql`clock_timestamp()`;

export const recoveryMigrations: Migrations = {
  ...platformMigrations,
  ...cloudConnectionMigrations,
  '2026-12-02T0200-recovery': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('deployables')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('cloud', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('manifest', 'jsonb', (c) => c.notNull())
        .addColumn('assembly_ids', 'jsonb', (c) => c.notNull())
        .addColumn('resource_ids', 'jsonb', (c) => c.notNull())
        .addColumn('desired', 'text', (c) => c.notNull().check(sql`desired in ('running', 'stopped', 'deleted')`))
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('state_changed_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
        .addColumn('maintenance', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('due_at', 'timestamptz')
        .addColumn('errors', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
        .execute();
      await db.schema.createIndex('deployables_due').on('deployables').column('due_at').where(sql.ref('due_at'), 'is not', null).execute();
      await db.schema
        .createTable('assemblies')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('deployable_id', 'uuid', (c) => c.notNull().references('deployables.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text')
        .addColumn('boot_id', 'text')
        .addColumn('addresses', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('launched_version', 'integer')
        .addColumn('spec_hash', 'text')
        .addColumn('maintenance', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
        .execute();
      await db.schema.createIndex('assemblies_by_deployable').on('assemblies').column('deployable_id').execute();
      await db.schema
        .createTable('incidents')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('deployable_id', 'uuid', (c) => c.notNull())
        .addColumn('assembly_id', 'uuid')
        .addColumn('resource_id', 'uuid')
        .addColumn('level', 'text', (c) => c.notNull().check(sql`level in ('resource', 'assembly', 'deployable')`))
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('open', 'errored', 'closed')`))
        .addColumn('outcome', 'text')
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('trigger_event_id', 'uuid')
        .addColumn('failure', 'jsonb', (c) => c.notNull())
        .addColumn('observations', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('not_before', 'timestamptz')
        .addColumn('last_error', 'text')
        .addColumn('errors', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('opened_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
        .addColumn('closed_at', 'timestamptz')
        .execute();
      // One open incident per failing thing: later failures of it fold into that one.
      await sql`create unique index incidents_one_open on incidents (deployable_id, coalesce(assembly_id, '00000000-0000-0000-0000-000000000000'::uuid), coalesce(resource_id, '00000000-0000-0000-0000-000000000000'::uuid)) where status <> 'closed'`.execute(db);
      await db.schema.createIndex('incidents_by_opened').on('incidents').columns(['opened_at', 'id']).execute();
      await db.schema.createIndex('incidents_by_deployable').on('incidents').columns(['deployable_id', 'opened_at']).execute();
      await db.schema
        .createTable('steps')
        .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
        .addColumn('deployable_id', 'uuid', (c) => c.notNull())
        .addColumn('incident_id', 'uuid', (c) => c.references('incidents.id').onDelete('cascade'))
        .addColumn('assembly_id', 'uuid')
        .addColumn('resource_id', 'uuid')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('action_id', 'uuid', (c) => c.notNull())
        .addColumn('command_id', 'uuid')
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('intended', 'verifying', 'succeeded', 'failed', 'skipped')`))
        .addColumn('reason', 'text')
        .addColumn('error', 'text')
        .addColumn('detail', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('intended_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
        .addColumn('acted_at', 'timestamptz')
        .addColumn('finished_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('steps_by_deployable').on('steps').columns(['deployable_id', 'intended_at']).execute();
      await db.schema.createIndex('steps_by_incident').on('steps').columns(['incident_id', 'intended_at']).execute();
      await sql`create index steps_unfinished on steps (deployable_id) where state in ('intended', 'verifying')`.execute(db);
      await db.schema
        .createTable('reconfigurations')
        .addColumn('deployable_id', 'uuid', (c) => c.notNull())
        .addColumn('assembly_id', 'uuid', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('cause_event_id', 'uuid')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('not_before', 'timestamptz')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
        .addPrimaryKeyConstraint('reconfigurations_pk', ['assembly_id', 'resource'])
        .execute();
    },
  },
};
