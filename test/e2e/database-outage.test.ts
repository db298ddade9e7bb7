/**
 * The database goes away under a running registry and notifier — every connection killed (what a
 * restart, a failover or a pooler's idle timeout does), then new ones refused for a while — in
 * the middle of a burst of applies. Neither process may exit, no event may be lost, readiness
 * must say so and come back.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, waitFor, type IsolatedDatabase } from '../support/index.ts';
import { applyBurstThroughOutage, expectNothingLost, startOutageStack, type OutageStack } from './outage-drill.ts';

describe('the database going away under the registry and the notifier', () => {
  let database: IsolatedDatabase;
  let admin: pg.Client;
  let stack: OutageStack;

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    admin = new pg.Client({ connectionString: database.url.replace(`/${database.name}`, '/postgres') });
    await admin.connect();
    stack = await startOutageStack(database.url);
  });

  afterAll(async () => {
    await admin?.query(`alter database ${pg.escapeIdentifier(database.name)} allow_connections true`).catch(() => undefined);
    await stack?.close();
    await admin?.end();
    await database?.drop();
  });

  const terminateEveryConnection = () => admin.query('select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database.name]);
  const readinessOf = async (url: string) => (await fetch(`${url}/readyz`)).status;

  it('costs neither process nor event: every apply announced and delivered once, readiness down and back', async () => {
    const report = await applyBurstThroughOutage(stack, {
      count: 60,
      outageAfter: 20,
      async outage() {
        // First what the issue saw: every connection killed, the server still there.
        await terminateEveryConnection();
        // Then an outage that lasts: connections refused until the database is back.
        await admin.query(`alter database ${pg.escapeIdentifier(database.name)} allow_connections false`);
        await terminateEveryConnection();
        await waitFor(async () => ((await readinessOf(stack.registry.url)) === 503 && (await readinessOf(stack.notifier.url)) === 503 ? true : undefined), {
          what: 'both parts to report the database unavailable',
          timeoutMs: 10_000,
        });
        await new Promise((resolve) => setTimeout(resolve, 3_000)); // the outage itself: a span of time, not a wait for an event
        await admin.query(`alter database ${pg.escapeIdentifier(database.name)} allow_connections true`);
      },
    });

    expect(report.applied.size).toBe(60);
    await expectNothingLost(stack, report, { appliesRefused: true, readinessDips: true });
    expect(report.notReadyChecks.registry).toMatchObject({ database: { status: 'failed' }, broker: { status: 'ok' } });
    expect(report.notReadyChecks.notifier).toMatchObject({ database: { status: 'failed' }, broker: { status: 'ok' } });
    for (const part of [stack.registry, stack.notifier]) {
      expect(part.output.some((line) => line.includes('"msg":"database connection lost"') && line.includes('"level":"warn"'))).toBe(true);
      expect(part.output.join('\n')).not.toMatch(/Unhandled 'error' event|uncaught/i);
    }
    console.info(`database outage: back to ready ${report.backToReadyMs} ms after the database returned; ${report.unavailableAnswers.length} applies answered 503 meanwhile`);
  }, 120_000);
});
