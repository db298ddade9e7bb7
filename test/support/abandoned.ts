/** Clean-up after test runs that were killed before they could clean up after themselves. */
import pg from 'pg';

export const TEST_DATABASE_PREFIX = 'defib_test_';
/** A test database this old was left behind by a run that died before its clean-up. */
const ABANDONED_AFTER_MS = 2 * 60 * 60 * 1000;

/**
 * Drops test databases left behind by runs that were killed before cleaning up. Each name
 * starts with its creation time, so a run never touches another live run's databases.
 */
export async function dropAbandonedDatabases(databaseUrl: string, now = Date.now()): Promise<string[]> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where datname like $1', [`${TEST_DATABASE_PREFIX}%`]);
    const abandoned = rows
      .map((row) => row.datname)
      .filter((name) => {
        const created = Number.parseInt(name.slice(TEST_DATABASE_PREFIX.length, TEST_DATABASE_PREFIX.length + 8), 36);
        return Number.isFinite(created) && now - created > ABANDONED_AFTER_MS;
      });
    for (const name of abandoned) await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    return abandoned;
  } finally {
    await admin.end();
  }
}

