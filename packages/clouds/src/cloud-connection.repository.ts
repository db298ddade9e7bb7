/**
 * A service's sealed copies of the cloud connections it uses, in its own schema: the whole
 * registration (credentials included) sealed with the service's own key, the time the registry
 * last changed it, and whether an event said it changed while the registry could not be asked.
 */
import type { Migrations } from '@defib/platform';
import { sql, type ColumnType, type Kysely, type Selectable } from 'kysely';

export interface CloudConnectionTable {
  name: string;
  provider: string;
  /** `SecretBox` form of the registration's JSON, bound to the cloud's name. */
  sealed_registration: string;
  /** The registry's `updatedAt` of this copy: an older copy never replaces a newer one. */
  registry_updated_at: Date;
  fetched_at: ColumnType<Date, never, Date>;
  /** Set when the registration changed (an event said so) but could not be fetched yet. */
  stale: ColumnType<boolean, never, boolean>;
}

/** The tables {@link cloudConnectionMigrations} creates; a service adds them to its own. */
export interface CloudConnectionTables {
  cloud_connections: CloudConnectionTable;
}

export type CloudConnectionRow = Selectable<CloudConnectionTable>;

/** The sealed-copy table; a service using cloud connections merges these into its migrations. */
export const cloudConnectionMigrations: Migrations = {
  '2026-12-01T1930-cloud-connections': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('cloud_connections')
        .addColumn('name', 'text', (column) => column.primaryKey())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('sealed_registration', 'text', (column) => column.notNull())
        .addColumn('registry_updated_at', 'timestamptz', (column) => column.notNull())
        .addColumn('fetched_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
        .addColumn('stale', 'boolean', (column) => column.notNull().defaultTo(false))
        .execute();
    },
  },
};

export type Executor = Kysely<CloudConnectionTables>;

export const cloudConnectionRepository = {
  find(db: Executor, name: string): Promise<CloudConnectionRow | undefined> {
    return db.selectFrom('cloud_connections').selectAll().where('name', '=', name).executeTakeFirst();
  },

  /** Stores a fresh copy unless a newer one is already there; says whether it was stored. */
  async save(db: Executor, copy: Pick<CloudConnectionTable, 'name' | 'provider' | 'sealed_registration' | 'registry_updated_at'>): Promise<boolean> {
    const row = await db
      .insertInto('cloud_connections')
      .values(copy)
      .onConflict((conflict) =>
        conflict
          .column('name')
          .doUpdateSet({
            provider: (eb) => eb.ref('excluded.provider'),
            sealed_registration: (eb) => eb.ref('excluded.sealed_registration'),
            registry_updated_at: (eb) => eb.ref('excluded.registry_updated_at'),
            fetched_at: sql<Date>`now()`,
            stale: false,
          })
          .where('cloud_connections.registry_updated_at', '<=', (eb) => eb.ref('excluded.registry_updated_at')),
      )
      .returning('name')
      .executeTakeFirst();
    return row !== undefined;
  },

  async markStale(db: Executor, name: string): Promise<void> {
    await db.updateTable('cloud_connections').set({ stale: true }).where('name', '=', name).execute();
  },

  async remove(db: Executor, name: string): Promise<void> {
    await db.deleteFrom('cloud_connections').where('name', '=', name).execute();
  },
};
