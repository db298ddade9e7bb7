/**
 * The notifier killed with SIGKILL while webhook attempts are in flight (the receiver has the
 * request and has not answered yet): after a restart every event is delivered, and the only
 * repeats are attempts of the same delivery — the same `webhook-id` — which receivers dedupe.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemblyFailed, world } from '../../services/notifier/test/notifier-harness.ts';
import { eventIdsOf, requestsByWebhookId, startWebhookReceiver, type WebhookReceiver } from '../../services/notifier/test/webhook-receiver.ts';
import {
  apiClient,
  cleanUpServiceBus,
  createIsolatedBus,
  createIsolatedDatabase,
  serviceEnvironment,
  startEventSpy,
  startServiceProcess,
  waitFor,
  type EventSpy,
  type IsolatedBus,
  type IsolatedDatabase,
  type ServiceProcess,
} from '../support/index.ts';

const ADMIN_TOKEN = 'admin-token-notifier-crash-0123';
const EVENTS = 30;

describe('notifier killed with SIGKILL during delivery attempts', () => {
  let database: IsolatedDatabase;
  let bus: IsolatedBus;
  let spy: EventSpy;
  let receiver: WebhookReceiver;
  let notifier: ServiceProcess | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    bus = createIsolatedBus();
    receiver = await startWebhookReceiver();
    spy = await startEventSpy(bus);
    env = {
      ...serviceEnvironment(database, bus, ADMIN_TOKEN),
      NOTIFIER_ALLOWED_NETWORKS: '127.0.0.0/8',
      NOTIFIER_ATTEMPT_TIMEOUT: '2s',
      // A dead worker's claims are retried once its lease runs out.
      NOTIFIER_LEASE: '3s',
      NOTIFIER_RETRY_INITIAL_DELAY: '100ms',
      NOTIFIER_RETRY_JITTER: '0',
      NOTIFIER_POLL_INTERVAL: '100ms',
      NOTIFIER_CONCURRENCY: '4',
    };
  });

  afterAll(async () => {
    await notifier?.kill('SIGTERM');
    await spy?.close();
    await receiver?.close();
    await cleanUpServiceBus(bus, ['notifier']);
    await database?.drop();
  });

  it('delivers every event after a restart, repeating only attempts of the same webhook-id', { timeout: 60_000 }, async () => {
    // Every answer is held long enough that attempts are always in flight.
    receiver.script('/held', [], { kind: 'status', status: 200, delayMs: 300 });
    notifier = await startServiceProcess('notifier', env);
    const api = apiClient(() => notifier?.url ?? '', ADMIN_TOKEN);
    await api.json('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}/held`, eventTypes: ['assembly.failed'], rateLimit: null } });
    const events = Array.from({ length: EVENTS }, () => assemblyFailed(world.wordpress, `i-${randomUUID()}`));
    await Promise.all(events.map((event) => spy.publish(event)));

    const held = () => receiver.requests.filter((request) => request.path === '/held');
    await waitFor(() => (held().length >= 5 && held().some((request) => request.answeredAt === undefined) ? true : undefined), { what: 'attempts in flight', timeoutMs: 20_000 });
    const killedAt = Date.now();
    expect(await notifier.kill('SIGKILL')).toBeNull();
    // The kill landed mid-attempt: the receiver held requests it had not answered yet.
    const inFlight = held().filter((request) => request.receivedAt <= killedAt && (request.answeredAt === undefined || request.answeredAt >= killedAt));
    expect(inFlight.length).toBeGreaterThan(0);
    const deliveredBeforeKill = new Set(held().filter((request) => request.answeredAt !== undefined && request.answeredAt < killedAt).flatMap(eventIdsOf));
    expect(deliveredBeforeKill.size).toBeLessThan(EVENTS);

    notifier = await startServiceProcess('notifier', env);
    const carried = () => new Set(held().flatMap(eventIdsOf));
    await waitFor(() => (events.every((event) => carried().has(event.id)) ? true : undefined), { what: 'every event to be delivered after the restart', timeoutMs: 30_000 });
    const deliveries = [...requestsByWebhookId(held()).values()];
    // Each event in exactly one delivery; a delivery's repeats carry the same events.
    expect(deliveries.flatMap((requests) => eventIdsOf(requests[0]!)).sort()).toEqual(events.map((event) => event.id).sort());
    for (const requests of deliveries) expect(new Set(requests.map((request) => eventIdsOf(request).join())).size).toBe(1);
    // An attempt the kill cut off was made again, under the same webhook-id, after the restart.
    for (const request of inFlight) {
      expect(held().some((later) => later.receivedAt > killedAt && later.headers['webhook-id'] === request.headers['webhook-id'])).toBe(true);
    }
  });
});
