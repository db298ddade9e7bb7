/** Stored cloud registrations. Credentials stay sealed here; callers open them when needed. */
import { sql, type Kysely } from 'kysely';
import type { CloudRow, NewCloud, RegistryTables } from './tables.ts';

export type Executor = Kysely<RegistryTables>;

export const cloudRepository = {
  /** Inserts or replaces; says whether the row is new. */
  async upsert(db: Executor, cloud: NewCloud): Promise<{ row: CloudRow; created: boolean }> {
    const row = await db
      .insertInto('clouds')
      .values(cloud)
      .onConflict((conflict) =>
        conflict.column('name').doUpdateSet({
          provider: (eb) => eb.ref('excluded.provider'),
          settings: (eb) => eb.ref('excluded.settings'),
          sealed_credentials: (eb) => eb.ref('excluded.sealed_credentials'),
          // Taken once the row is locked, so a later registration always has a later time
          // (services keep the newest copy of a connection by it).
          updated_at: sql`clock_timestamp()`,
        }),
      )
      .returningAll()
      .returning(sql<boolean>`(xmax = 0)`.as('created'))
      .executeTakeFirstOrThrow();
    const { created, ...stored } = row;
    return { row: stored, created };
  },

  find(db: Executor, name: string): Promise<CloudRow | undefined> {
    return db.selectFrom('clouds').selectAll().where('name', '=', name).executeTakeFirst();
  },

  list(db: Executor): Promise<CloudRow[]> {
    return db.selectFrom('clouds').selectAll().orderBy('name').execute();
  },

  /** Locks the row for the rest of the transaction. */
  findForUpdate(db: Executor, name: string): Promise<CloudRow | undefined> {
    return db.selectFrom('clouds').selectAll().where('name', '=', name).forUpdate().executeTakeFirst();
  },

  async remove(db: Executor, name: string): Promise<void> {
    await db.deleteFrom('clouds').where('name', '=', name).execute();
  },

  async deployablesUsing(db: Executor, name: string): Promise<string[]> {
    const rows = await db.selectFrom('deployables').select('name').where('cloud', '=', name).orderBy('name').limit(20).execute();
    return rows.map((row) => row.name);
  },
};
