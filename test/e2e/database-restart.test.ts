/**
 * A real PostgreSQL restart under a running registry and notifier: a server of the test's own
 * (the machine's `initdb`/`pg_ctl`, a free port, a temporary folder) is stopped for 5 s in the
 * middle of a burst of applies and started again. Nothing may be lost, both parts must be ready
 * again within seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBinaries, startThrowawayPostgres, type ThrowawayPostgres } from '../support/index.ts';
import { applyBurstThroughOutage, expectNothingLost, startOutageStack, type OutageStack } from './outage-drill.ts';

const binaries = postgresBinaries();
if (binaries === undefined) console.warn('database-restart: skipped — no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql');

describe.skipIf(binaries === undefined)('a PostgreSQL restart under the registry and the notifier', () => {
  let server: ThrowawayPostgres;
  let stack: OutageStack;

  beforeAll(async () => {
    server = await startThrowawayPostgres(binaries as string);
    stack = await startOutageStack(server.url);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
    await server?.destroy();
  });

  it('loses nothing when the server stops for 5 s mid-burst, and both parts are ready again within seconds', async () => {
    const report = await applyBurstThroughOutage(stack, {
      count: 60,
      outageAfter: 20,
      async outage() {
        await server.stop();
        await new Promise((resolve) => setTimeout(resolve, 5_000)); // the outage itself: a span of time, not a wait for an event
        await server.start();
      },
    });

    expect(report.applied.size).toBe(60);
    await expectNothingLost(stack, report, { appliesRefused: true, readinessDips: true });
    console.info(`database restart: back to ready ${report.backToReadyMs} ms after PostgreSQL started again; ${report.unavailableAnswers.length} applies answered 503 meanwhile`);
  }, 120_000);
});
