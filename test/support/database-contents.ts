/** What a test database holds, as text, for asserting that something was never stored anywhere. */
import pg from 'pg';

/** Every row of every table outside PostgreSQL's own schemas, one `schema.table: row` line each. */
export async function databaseContents(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ schema: string; name: string }>(
      `select table_schema as schema, table_name as name from information_schema.tables
        where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`,
    );
    const lines: string[] = [];
    for (const table of tables) {
      const qualified = `${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.name)}`;
      const { rows } = await client.query<{ row: string }>(`select t::text as row from ${qualified} t`);
      for (const { row } of rows) lines.push(`${table.schema}.${table.name}: ${row}`);
    }
    return lines.join('\n');
  } finally {
    await client.end();
  }
}
