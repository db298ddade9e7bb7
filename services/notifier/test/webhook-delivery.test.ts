import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '@defib/contracts';
import { waitFor } from '../../../test/support/index.ts';
import { addressChanged, assemblyFailed, deliveryOf, recoveryStarted, startNotifier, world, type DeliveryBody, type NotifierHarness, type SubscriptionBody } from './notifier-harness.ts';
import { answer, eventIdsOf, requestsByWebhookId, startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

describe('webhook delivery', () => {
  let notifier: NotifierHarness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    notifier = await startNotifier();
    receiver = await startWebhookReceiver();
  });

  afterAll(async () => {
    await notifier?.close();
    await receiver?.close();
  });

  // Each test's subscriptions end with it, so no test's events reach (or wait behind) another's receivers.
  let subscribed: string[] = [];

  afterEach(async () => {
    // A test may have deleted its own already.
    for (const id of subscribed) expect([204, 404]).toContain((await notifier.request('DELETE', `/v1/subscriptions/${id}`)).status);
    subscribed = [];
  });

  async function subscribe(path: string, extra: Record<string, unknown> = {}): Promise<SubscriptionBody & { secret: string }> {
    const subscription = await notifier.json<SubscriptionBody & { secret: string }>('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}${path}`, ...extra } });
    subscribed.push(subscription.id);
    return subscription;
  }

  const requestsTo = (path: string) => receiver.requests.filter((request) => request.path === path);

  it('delivers a signed {type, timestamp, data} body that verifies with the standardwebhooks package', async () => {
    const subscription = await subscribe('/signed', { eventTypes: ['assembly.failed'] });
    const event = assemblyFailed();
    await notifier.publish(event);
    const [request] = await waitFor(() => (requestsTo('/signed').length > 0 ? requestsTo('/signed') : undefined), { what: 'the webhook' });
    if (request === undefined) throw new Error('no request');
    const body = receiver.verify(request, subscription.secret) as { type: string; timestamp: string; data: { id: string; subject: unknown; payload: unknown; reason: string } };
    expect(body).toEqual({
      type: 'assembly.failed',
      timestamp: event.occurredAt,
      data: expect.objectContaining({ id: event.id, subject: event.subject, payload: event.data, reason: 'the cloud reports ERROR' }) as unknown,
    });
    expect(request.headers['content-type']).toBe('application/json');
    const delivery = await deliveryOf(notifier, subscription.id, (found) => found.status === 'delivered', 'a delivered delivery');
    expect(request.headers['webhook-id']).toBe(delivery.id);
    expect(delivery.events).toEqual([expect.objectContaining({ id: event.id, type: 'assembly.failed' })]);
    expect(delivery.attempts).toEqual([expect.objectContaining({ number: 1, statusCode: 200, outcome: 'delivered', error: null })]);
    expect(receiver.verifies(request, 'whsec_' + Buffer.alloc(32, 7).toString('base64'))).toBe(false);
  });

  it('sends only what the filters ask for: event types, prefix patterns and deployables', async () => {
    const subscription = await subscribe('/filtered', { eventTypes: ['recovery.*', 'assembly.address-changed'], deployables: ['shop'] });
    const wanted = recoveryStarted();
    const shopEvent = { ...wanted, id: crypto.randomUUID(), subject: { ...wanted.subject, ...world.shop } } as DomainEvent;
    await notifier.publish(assemblyFailed(world.shop)); // type not subscribed
    await notifier.publish(wanted); // wordpress, not shop
    await notifier.publish(shopEvent);
    await waitFor(() => (requestsTo('/filtered').length >= 1 ? true : undefined), { what: 'the filtered webhook' });
    const delivery = await deliveryOf(notifier, subscription.id, (found) => found.status === 'delivered', 'the delivered event');
    expect(delivery.events.map((event) => event.id)).toEqual([shopEvent.id]);
    const page = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${subscription.id}`, 200);
    expect(page.items).toHaveLength(1);
  });

  it('retries with backoff under the same webhook-id, and a receiver that hangs, answers garbage, redirects or closes the connection is just a failed attempt', async () => {
    receiver.script('/flaky', [answer.hang, answer.garbage, answer.redirect(`${receiver.url}/elsewhere`), answer.close, answer.status(500)], answer.ok);
    const subscription = await subscribe('/flaky', { eventTypes: ['assembly.failed'] });
    await notifier.publish(assemblyFailed());
    // The harness allows 4 attempts: the fifth and sixth come from a redelivery with a fresh schedule.
    const exhausted = await deliveryOf(notifier, subscription.id, (found) => found.status === 'failed', 'the delivery to give up', 15_000);
    expect(exhausted.attempts.map((attempt) => attempt.error)).toEqual([
      'timed out after 500 ms',
      expect.stringMatching(/^invalid HTTP response/) as unknown,
      'HTTP 307: redirects are not followed',
      'connection closed by the receiver before it answered',
    ]);
    expect(exhausted.failureReason).toBe('exhausted');
    expect(requestsTo('/elsewhere')).toHaveLength(0);
    const ids = new Set(requestsTo('/flaky').map((request) => request.headers['webhook-id']));
    expect([...ids]).toEqual([exhausted.id]);
    const started = exhausted.attempts.map((attempt) => Date.parse(attempt.startedAt));
    // 50 ms, 100 ms, 200 ms after each failure (no jitter in the harness): the gaps grow.
    const ends = exhausted.attempts.map((attempt, index) => (started[index] ?? 0) + attempt.latencyMs);
    expect((started[2] ?? 0) - (ends[1] ?? 0)).toBeGreaterThanOrEqual(90);
    expect((started[3] ?? 0) - (ends[2] ?? 0)).toBeGreaterThanOrEqual(190);

    const redelivered = await notifier.json<DeliveryBody>('POST', `/v1/deliveries/${exhausted.id}/redeliver`, 202);
    expect(redelivered.status).toBe('pending');
    const delivered = await deliveryOf(notifier, subscription.id, (found) => found.status === 'delivered', 'the redelivery', 15_000);
    expect(delivered.id).toBe(exhausted.id);
    expect(delivered.attempts.map((attempt) => attempt.statusCode)).toEqual([null, null, 307, null, 500, 200]);
    expect(new Set(requestsTo('/flaky').map((request) => request.headers['webhook-id']))).toEqual(new Set([exhausted.id]));
  });

  it('logs each failed attempt at warn with the subscription, event type, status and next attempt, never the secret or the body', async () => {
    receiver.script('/logged', [answer.status(503)], answer.ok);
    const subscription = await subscribe('/logged', { eventTypes: ['assembly.failed'] });
    const event = assemblyFailed();
    await notifier.publish(event);
    await deliveryOf(notifier, subscription.id, (found) => found.status === 'delivered', 'the retried delivery');
    expect((await notifier.request('DELETE', `/v1/subscriptions/${subscription.id}`)).status).toBe(204);
    const warnings = notifier.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'delivery attempt failed; will retry' && line.subscriptionId === subscription.id);
    expect(warnings).toEqual([
      expect.objectContaining({ level: 'warn', eventTypes: ['assembly.failed'], statusCode: 503, error: { message: 'HTTP 503' }, nextAttemptInMs: expect.any(Number) as unknown }),
    ]);
    const logged = JSON.stringify(warnings);
    expect(logged).not.toContain(subscription.secret);
    expect(logged).not.toContain(event.id);
    expect(logged).not.toContain('the cloud reports ERROR');
  });

  it('honours Retry-After on 429', async () => {
    receiver.script('/throttled', [answer.status(429, { 'retry-after': '1' })]);
    const subscription = await subscribe('/throttled', { eventTypes: ['assembly.failed'] });
    await notifier.publish(assemblyFailed());
    const delivered = await deliveryOf(notifier, subscription.id, (found) => found.status === 'delivered', 'the throttled delivery');
    const [first, second] = delivered.attempts;
    expect(first?.statusCode).toBe(429);
    expect(Date.parse(second?.startedAt ?? '') - Date.parse(first?.startedAt ?? '')).toBeGreaterThanOrEqual(1_000);
  });

  it('gives up after the schedule and announces notification.exhausted, plus hook.failed for a hook, with the event subject', async () => {
    receiver.script('/dns-hook', [], answer.status(503));
    const hook = await subscribe('/dns-hook', { eventTypes: ['assembly.address-changed'], hook: true, name: 'dns' });
    const event = addressChanged();
    await notifier.publish(event);
    const failed = await deliveryOf(notifier, hook.id, (found) => found.status === 'failed', 'the hook to give up', 15_000);
    expect(failed.attempts).toHaveLength(4);
    expect(failed.lastError).toBe('HTTP 503');
    const exhausted = await notifier.eventMatching(
      (candidate): candidate is Extract<DomainEvent, { type: 'notification.exhausted' }> => candidate.type === 'notification.exhausted' && candidate.data.deliveryId === failed.id,
      'notification.exhausted',
    );
    expect(exhausted.subject).toEqual(event.subject);
    expect(exhausted.correlationId).toBe(event.correlationId);
    expect(exhausted.data).toEqual({ subscriptionId: hook.id, deliveryId: failed.id, eventId: event.id, eventType: 'assembly.address-changed', attempts: 4 });
    const hookFailed = await notifier.eventMatching(
      (candidate): candidate is Extract<DomainEvent, { type: 'hook.failed' }> => candidate.type === 'hook.failed' && candidate.data.deliveryId === failed.id,
      'hook.failed',
    );
    expect(hookFailed.subject).toEqual(event.subject);
    expect(hookFailed.data).toMatchObject({ eventId: event.id, attempts: 4, lastError: 'HTTP 503' });
  });

  it('disables a subscription whose endpoint answers 410 Gone', async () => {
    receiver.script('/gone', [answer.status(410)]);
    const subscription = await subscribe('/gone', { eventTypes: ['assembly.failed'] });
    await notifier.publish(assemblyFailed());
    const failed = await deliveryOf(notifier, subscription.id, (found) => found.status === 'failed', 'the 410');
    expect(failed.failureReason).toBe('gone');
    expect(failed.attempts).toHaveLength(1);
    const shown = await notifier.json<SubscriptionBody>('GET', `/v1/subscriptions/${subscription.id}`, 200);
    expect(shown.enabled).toBe(false);
    expect(shown.disabledReason).toContain('410');
    const before = requestsTo('/gone').length;
    await notifier.publish(assemblyFailed());
    await notifier.publish(recoveryStarted());
    const probe = await subscribe('/after-gone', { eventTypes: ['recovery.started'] });
    await notifier.publish(recoveryStarted());
    await deliveryOf(notifier, probe.id, (found) => found.status === 'delivered', 'a later event elsewhere');
    expect(requestsTo('/gone')).toHaveLength(before);
    const conflict = await notifier.request('POST', `/v1/deliveries/${failed.id}/redeliver`);
    expect(conflict.status).toBe(409);
  });

  it('signs with both secrets during a rotation overlap, then only with the new one', async () => {
    const subscription = await subscribe('/rotated', { eventTypes: ['assembly.failed'] });
    const rotated = await notifier.json<{ secret: string; previousSecretExpiresAt: string }>('POST', `/v1/subscriptions/${subscription.id}/rotate-secret`, 200, { body: { overlap: '700ms' } });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(subscription.secret);
    await notifier.publish(assemblyFailed());
    const [during] = await waitFor(() => (requestsTo('/rotated').length > 0 ? requestsTo('/rotated') : undefined), { what: 'a request during the overlap' });
    if (during === undefined) throw new Error('no request');
    expect(during.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(receiver.verifies(during, rotated.secret)).toBe(true);
    expect(receiver.verifies(during, subscription.secret)).toBe(true);
    await waitFor(() => (Date.now() > Date.parse(rotated.previousSecretExpiresAt) ? true : undefined), { what: 'the overlap to end' });
    await notifier.publish(assemblyFailed());
    const after = await waitFor(() => requestsTo('/rotated')[1], { what: 'a request after the overlap' });
    expect(after.headers['webhook-signature']?.split(' ')).toHaveLength(1);
    expect(receiver.verifies(after, rotated.secret)).toBe(true);
    expect(receiver.verifies(after, subscription.secret)).toBe(false);
  });

  it('turns a storm of 200 assembly.failed into a handful of messages that together carry every event', async () => {
    const subscription = await subscribe('/storm', { eventTypes: ['assembly.failed'], rateLimit: { burst: 3, perMinute: 6, groupWindow: '400ms' } });
    const storm = Array.from({ length: 200 }, (_, index) => assemblyFailed(world.wordpress, `i-${index}`));
    await Promise.all(storm.map((event) => notifier.publish(event)));
    // What each delivery carried, by webhook-id: a retried request (one whose answer was lost to a
    // timeout on a loaded machine) repeats its delivery's id and events, which receivers dedupe.
    const deliveries = () => [...requestsByWebhookId(requestsTo('/storm')).values()];
    const carried = () => deliveries().flatMap((requests) => eventIdsOf(requests[0]!));
    await waitFor(() => (carried().length >= 200 ? true : undefined), { what: 'every stormy event', timeoutMs: 15_000 });
    // Every event in exactly one delivery: a set would hide an event carried twice in place of a missing one.
    expect(carried().sort()).toEqual(storm.map((event) => event.id).sort());
    for (const requests of deliveries()) expect(new Set(requests.map((request) => eventIdsOf(request).join())).size).toBe(1);
    expect(deliveries().length).toBeLessThanOrEqual(8);
    const batches = requestsTo('/storm').filter((request) => (JSON.parse(request.body) as { type: string }).type === 'batch');
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(receiver.verifies(batches[0] ?? requestsTo('/storm')[0]!, subscription.secret)).toBe(true);
    const grouped = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${subscription.id}&limit=200`, 200);
    expect(grouped.items.some((delivery) => delivery.mode === 'group' && delivery.events.length > 1)).toBe(true);
  });

  it('filters the delivery log by status, event type and time, a page at a time', async () => {
    receiver.script('/log', [], answer.ok);
    receiver.script('/log-failing', [], answer.status(500));
    const delivering = await subscribe('/log', { eventTypes: ['assembly.failed', 'assembly.address-changed'] });
    const failing = await subscribe('/log-failing', { eventTypes: ['assembly.failed'] });
    const changed = addressChanged();
    for (const event of [assemblyFailed(), assemblyFailed(), changed]) await notifier.publish(event);
    await waitFor(
      async () => {
        const [delivered, failed] = await Promise.all([
          notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${delivering.id}&status=delivered`, 200),
          notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${failing.id}&status=failed`, 200),
        ]);
        return delivered.items.length === 3 && failed.items.length === 2 ? true : undefined;
      },
      { what: 'three deliveries and two given up', timeoutMs: 15_000 },
    );
    const first = await notifier.json<{ items: DeliveryBody[]; nextCursor: string | null }>('GET', `/v1/deliveries?subscription=${delivering.id}&limit=2`, 200);
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const next = await notifier.json<{ items: DeliveryBody[]; nextCursor: string | null }>('GET', `/v1/deliveries?subscription=${delivering.id}&limit=2&cursor=${first.nextCursor ?? ''}`, 200);
    expect(next.items).toHaveLength(1);
    expect(new Set([...first.items, ...next.items].map((delivery) => delivery.id)).size).toBe(3);
    const failed = await notifier.json<{ items: DeliveryBody[] }>('GET', '/v1/deliveries?status=failed&limit=200', 200);
    expect(failed.items.filter((delivery) => delivery.subscriptionId === failing.id)).toHaveLength(2);
    expect(failed.items.every((delivery) => delivery.status === 'failed')).toBe(true);
    const changes = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${delivering.id}&eventType=assembly.address-changed`, 200);
    expect(changes.items.map((delivery) => delivery.events.map((event) => event.id))).toEqual([[changed.id]]);
    const future = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?since=${new Date(Date.now() + 60_000).toISOString()}`, 200);
    expect(future.items).toEqual([]);
  });

  it('replays what a subscription failed to deliver since a time', async () => {
    receiver.script('/replay', [], answer.status(500));
    const since = new Date(Date.now() - 1_000).toISOString();
    const subscription = await subscribe('/replay', { eventTypes: ['recovery.started'] });
    await notifier.publish(recoveryStarted());
    await notifier.publish(recoveryStarted());
    await waitFor(
      async () => {
        const page = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${subscription.id}&status=failed`, 200);
        return page.items.length === 2 ? true : undefined;
      },
      { what: 'two failed deliveries', timeoutMs: 15_000 },
    );
    receiver.script('/replay', []);
    const replay = await notifier.json<{ requeued: number }>('POST', `/v1/subscriptions/${subscription.id}/redeliver-failed?since=${encodeURIComponent(since)}`, 202);
    expect(replay.requeued).toBe(2);
    await waitFor(
      async () => {
        const page = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${subscription.id}&status=delivered`, 200);
        return page.items.length === 2 ? true : undefined;
      },
      { what: 'both replayed', timeoutMs: 10_000 },
    );
  });

  it('exposes delivery metrics', async () => {
    receiver.script('/metered', [answer.ok], answer.status(500));
    const subscription = await subscribe('/metered', { eventTypes: ['assembly.failed'] });
    await notifier.publish(assemblyFailed());
    await deliveryOf(notifier, subscription.id, (found) => found.status === 'delivered', 'a delivery to count');
    await notifier.publish(assemblyFailed());
    await deliveryOf(notifier, subscription.id, (found) => found.status === 'failed', 'a dead letter to count');
    const text = await (await notifier.request('GET', '/metrics', { token: null })).text();
    expect(text).toMatch(/defib_notifier_deliveries_total\{[^}]*channel="webhook"[^}]*outcome="delivered"[^}]*\} [1-9]/);
    expect(text).toMatch(/defib_notifier_dead_letters_total\{[^}]*reason="exhausted"[^}]*\} [1-9]/);
    expect(text).toMatch(/defib_notifier_delivery_latency_seconds_count\{[^}]*channel="webhook"/);
    expect(text).toMatch(/defib_notifier_oldest_pending_seconds\{[^}]*\} \d/);
  });

  it('never writes a secret into its logs, while creating, rotating, signing with and failing on one', async () => {
    receiver.script('/secretive', [answer.status(500)], answer.ok);
    const subscription = await subscribe('/secretive', { eventTypes: ['assembly.failed'] });
    const rotated = await notifier.json<{ secret: string }>('POST', `/v1/subscriptions/${subscription.id}/rotate-secret`, 200, { body: { overlap: '1m' } });
    await notifier.publish(assemblyFailed());
    await deliveryOf(notifier, subscription.id, (found) => found.status === 'delivered', 'a signed delivery after a failed attempt');
    const logs = notifier.logs.join('\n');
    expect(logs).toContain(subscription.id); // the work above was logged
    for (const secret of [subscription.secret, rotated.secret]) expect(logs).not.toContain(secret.slice('whsec_'.length));
    expect(logs).not.toMatch(/whsec_/);
  });
});
