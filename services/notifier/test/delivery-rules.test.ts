/**
 * The notifier's delivery rules that only show over several attempts or events: how many attempts
 * come before a delivery is given up, the guard against announcing the notifier's own
 * announcements, the failure run that disables a webhook (and its reset), storm-control groups
 * closed at their size limit, and what a receiver answers never being kept. Each describe runs
 * its own notifier with the settings its rule needs; each test makes its own data.
 */
import type { DomainEvent } from '@defib/contracts';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseContents, waitFor } from '../../../test/support/index.ts';
import type { NotifierConfig } from '../src/config.ts';
import { addressChanged, assemblyFailed, deliveryOf, startNotifier, world, type DeliveryBody, type NotifierHarness, type SubscriptionBody } from './notifier-harness.ts';
import { answer, eventIdsOf, startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

/** Retries that follow each other quickly, so a whole schedule runs in well under a second. */
const quickRetries = (attempts: number): NotifierConfig['retry'] => ({ attempts, initialDelayMs: 10, multiplier: 1, maxDelayMs: 10, jitter: 0 });

describe('delivery rules', () => {
  let receiver: WebhookReceiver;
  let notifier: NotifierHarness | undefined;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });

  afterEach(async () => {
    await notifier?.close();
    notifier = undefined;
  });

  afterAll(async () => {
    await receiver?.close();
  });

  async function start(overrides: Partial<NotifierConfig>): Promise<NotifierHarness> {
    notifier = await startNotifier(overrides);
    return notifier;
  }

  const requestsTo = (path: string) => receiver.requests.filter((request) => request.path === path);
  const subscribe = (harness: NotifierHarness, path: string, extra: Record<string, unknown> = {}) =>
    harness.json<SubscriptionBody & { secret: string }>('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}${path}`, eventTypes: ['assembly.failed'], rateLimit: null, ...extra } });
  const exhaustion = (harness: NotifierHarness, deliveryId: string) =>
    harness.eventMatching(
      (candidate): candidate is Extract<DomainEvent, { type: 'notification.exhausted' }> => candidate.type === 'notification.exhausted' && candidate.data.deliveryId === deliveryId,
      'notification.exhausted',
    );
  const deliveriesOf = async (harness: NotifierHarness, subscriptionId: string) =>
    (await harness.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${subscriptionId}&limit=200`, 200)).items;

  describe.each([3, 10])('with NOTIFIER_RETRY_ATTEMPTS=%i', (attempts) => {
    it(`gives a failing delivery up after exactly ${attempts} attempts, and says so in notification.exhausted`, async () => {
      const harness = await start({ retry: quickRetries(attempts) });
      const path = `/limit-${attempts}`;
      receiver.script(path, [], answer.status(500));
      const subscription = await subscribe(harness, path);
      const event = assemblyFailed();
      await harness.publish(event);
      const failed = await deliveryOf(harness, subscription.id, (delivery) => delivery.status === 'failed', 'the delivery to be given up');
      expect(failed.failureReason).toBe('exhausted');
      expect(failed.attempts.map((attempt) => attempt.number)).toEqual(Array.from({ length: attempts }, (_, index) => index + 1));
      expect(requestsTo(path)).toHaveLength(attempts);
      const exhausted = await exhaustion(harness, failed.id);
      expect(exhausted.data).toMatchObject({ eventId: event.id, attempts });
    });
  });

  describe('announcing given-up deliveries', () => {
    it('announces once, and not again when the failing endpoint itself subscribes to notification.exhausted and hook.failed', async () => {
      const harness = await start({ retry: quickRetries(2) });
      receiver.script('/loop', [], answer.status(500));
      const hook = await subscribe(harness, '/loop', { eventTypes: ['assembly.address-changed', 'notification.exhausted', 'hook.failed'], hook: true });
      const event = addressChanged();
      await harness.publish(event);
      // The original delivery fails and announces notification.exhausted and hook.failed; the
      // endpoint is subscribed to both, so they are delivered to it too, and fail in turn.
      const failedTypes = await waitFor(
        async () => {
          const failed = (await deliveriesOf(harness, hook.id)).filter((delivery) => delivery.status === 'failed');
          const types = failed.flatMap((delivery) => delivery.events.map((carried) => carried.type)).sort();
          return types.length >= 3 ? types : undefined;
        },
        { what: 'the announcements to be delivered and given up too', timeoutMs: 15_000 },
      );
      expect(failedTypes).toEqual(['assembly.address-changed', 'hook.failed', 'notification.exhausted']);
      // A give-up writes its announcements in the transaction that records it: the outbox now
      // holds every announcement these failures made, and they are about the original event only.
      const { rows } = await sql<{ type: string; about: string }>`select type, event->'data'->>'eventType' as about from outbox where type in ('notification.exhausted', 'hook.failed') order by type`.execute(
        harness.service.kernel.database.db,
      );
      expect(rows).toEqual([
        { type: 'hook.failed', about: 'assembly.address-changed' },
        { type: 'notification.exhausted', about: 'assembly.address-changed' },
      ]);
    });
  });

  describe('the failure run that disables a webhook', () => {
    const settings = { retry: quickRetries(3), autoDisable: { afterMs: 0, minFailures: 3 } };

    it('disables an endpoint after three failed attempts in a row', async () => {
      const harness = await start(settings);
      receiver.script('/down', [], answer.status(500));
      const subscription = await subscribe(harness, '/down');
      await harness.publish(assemblyFailed());
      await deliveryOf(harness, subscription.id, (delivery) => delivery.status === 'failed', 'the delivery to fail');
      const shown = await harness.json<SubscriptionBody>('GET', `/v1/subscriptions/${subscription.id}`, 200);
      expect(shown.enabled).toBe(false);
      expect(shown.disabledReason).toContain('3 in a row');
    });

    it('keeps a flaky endpoint enabled: a success between failures starts the run again', async () => {
      const harness = await start(settings);
      // Two failures then a success, three times over: six failures, never three in a row.
      receiver.script('/flaky', [500, 500, 200, 500, 500, 200, 500, 500, 200].map((status) => answer.status(status)));
      const subscription = await subscribe(harness, '/flaky');
      for (let round = 1; round <= 3; round += 1) {
        await harness.publish(assemblyFailed(world.wordpress, `i-flaky-${round}`));
        await waitFor(async () => ((await deliveriesOf(harness, subscription.id)).filter((delivery) => delivery.status === 'delivered').length === round ? true : undefined), {
          what: `delivery ${round} after two failures`,
        });
      }
      const shown = await harness.json<SubscriptionBody>('GET', `/v1/subscriptions/${subscription.id}`, 200);
      expect(shown).toMatchObject({ enabled: true, disabledReason: null });
      expect((await deliveriesOf(harness, subscription.id)).map((delivery) => delivery.attempts.map((attempt) => attempt.statusCode))).toEqual([
        [500, 500, 200],
        [500, 500, 200],
        [500, 500, 200],
      ]);
    });
  });

  describe('storm-control groups', () => {
    it('closes a group at NOTIFIER_GROUP_MAX_EVENTS and sends it at once instead of at the end of its window', async () => {
      const harness = await start({ groupMaxEvents: 5 });
      // One event passes on its own (burst 1); the rest are grouped for a window far longer than the test.
      const subscription = await subscribe(harness, '/grouped', { rateLimit: { burst: 1, perMinute: 1, groupWindow: '1h' } });
      const storm = Array.from({ length: 11 }, (_, index) => assemblyFailed(world.wordpress, `i-group-${index}`));
      await Promise.all(storm.map((event) => harness.publish(event)));
      const sizes = await waitFor(
        async () => {
          const delivered = (await deliveriesOf(harness, subscription.id)).filter((delivery) => delivery.status === 'delivered');
          return delivered.length === 3 ? delivered.map((delivery) => delivery.events.length).sort() : undefined;
        },
        { what: 'the single event and two full groups to be delivered', timeoutMs: 15_000 },
      );
      expect(sizes).toEqual([1, 5, 5]);
      const carried = requestsTo('/grouped').flatMap(eventIdsOf);
      expect(carried).toHaveLength(11);
      expect(new Set(carried)).toEqual(new Set(storm.map((event) => event.id)));
    });
  });

  describe('what a receiver answers', () => {
    it('keeps neither the body nor the stack trace a failing receiver sends back, in the database or the logs', async () => {
      const harness = await start({ retry: quickRetries(2) });
      const planted = 'planted-receiver-body-7f3a';
      const stackLine = 'at chargeCard (/srv/billing/secret-handler.js:42:13)';
      receiver.script('/leaky', [], answer.statusWithBody(500, `TypeError: ${planted} card 4111111111111111 declined\n    ${stackLine}\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`));
      const subscription = await subscribe(harness, '/leaky');
      await harness.publish(assemblyFailed());
      const failed = await deliveryOf(harness, subscription.id, (delivery) => delivery.status === 'failed', 'the delivery to be given up');
      expect(failed.attempts.map((attempt) => attempt.error)).toEqual(['HTTP 500', 'HTTP 500']);
      await exhaustion(harness, failed.id);
      const stored = await databaseContents(harness.config.databaseUrl);
      expect(stored).toContain(failed.id); // the dump does see the notifier's tables
      for (const leaked of [planted, stackLine, '4111111111111111', 'secret-handler']) {
        expect(stored).not.toContain(leaked);
        expect(harness.logs.join('\n')).not.toContain(leaked);
      }
    });
  });
});
