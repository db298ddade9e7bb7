/**
 * The broker goes away under a running registry and notifier, on a RabbitMQ node of the test's
 * own: every connection closed, then the broker stopped for 3 s, each in the middle of a burst of
 * applies. Applies keep being accepted (their events wait in the outbox), nothing is lost or
 * announced twice, and readiness says so and comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, rabbitmqUnavailableReason, startThrowawayRabbitmq, waitFor, type IsolatedDatabase, type ThrowawayRabbitmq } from '../support/index.ts';
import { applyBurstThroughOutage, expectNothingLost, startOutageStack, type OutageStack } from './outage-drill.ts';

const unavailable = rabbitmqUnavailableReason();
if (unavailable !== undefined) console.warn(`broker-outage: skipped — ${unavailable}`);

describe.skipIf(unavailable !== undefined)('the broker going away under the registry and the notifier', () => {
  let database: IsolatedDatabase;
  let broker: ThrowawayRabbitmq;
  let stack: OutageStack;

  beforeAll(async () => {
    [database, broker] = await Promise.all([createIsolatedDatabase(), startThrowawayRabbitmq()]);
    stack = await startOutageStack(database.url, broker.url);
  }, 90_000);

  afterAll(async () => {
    await stack?.close();
    await broker?.destroy();
    await database?.drop();
  }, 60_000);

  const readinessOf = async (url: string) => (await fetch(`${url}/readyz`)).status;

  it('loses nothing when every broker connection is closed mid-burst', async () => {
    const report = await applyBurstThroughOutage(stack, { count: 40, outageAfter: 15, names: 'closed', outage: () => broker.closeAllConnections() });
    expect(report.applied.size).toBe(40);
    await expectNothingLost(stack, report, { appliesRefused: false, readinessDips: false });
  }, 120_000);

  it('loses nothing when the broker stops for 3 s mid-burst, and both parts are ready again within seconds', async () => {
    const report = await applyBurstThroughOutage(stack, {
      count: 40,
      outageAfter: 15,
      names: 'stopped',
      async outage() {
        await broker.stopApp();
        await waitFor(async () => ((await readinessOf(stack.registry.url)) === 503 && (await readinessOf(stack.notifier.url)) === 503 ? true : undefined), {
          what: 'both parts to report the broker unavailable',
        });
        await new Promise((resolve) => setTimeout(resolve, 3_000)); // the outage itself: a span of time, not a wait for an event
        await broker.startApp();
      },
    });
    expect(report.applied.size).toBe(40);
    await expectNothingLost(stack, report, { appliesRefused: false, readinessDips: true });
    expect(report.notReadyChecks.registry).toMatchObject({ broker: { status: 'failed' }, database: { status: 'ok' } });
    console.info(`broker stop: back to ready ${report.backToReadyMs} ms after RabbitMQ started again`);
  }, 120_000);
});
