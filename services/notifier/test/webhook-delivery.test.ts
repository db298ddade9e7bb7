import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '@defib/contracts';
import { waitFor } from '../../../test/support/index.ts';
import { addressChanged, assemblyFailed, deliveryOf, recoveryStarted, startNotifier, world, type DeliveryBody, type NotifierHarness, type SubscriptionBody } from './notifier-harness.ts';
import { answer, startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

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

  async function subscribe(path: string, extra: Record<string, unknown> = {}): Promise<SubscriptionBody & { secret: string }> {
    return notifier.json('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}${path}`, ...extra } });
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
    const carried = () =>
      requestsTo('/storm').flatMap((request) => {
        const body = JSON.parse(request.body) as { type: string; data: { id?: string; events?: { id: string }[] } };
        return body.type === 'batch' ? (body.data.events ?? []).map((event) => event.id) : [body.data.id ?? ''];
      });
    await waitFor(() => (carried().length >= 200 ? true : undefined), { what: 'every stormy event', timeoutMs: 15_000 });
    expect(new Set(carried())).toEqual(new Set(storm.map((event) => event.id)));
    expect(requestsTo('/storm').length).toBeLessThanOrEqual(8);
    const batches = requestsTo('/storm').filter((request) => (JSON.parse(request.body) as { type: string }).type === 'batch');
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(receiver.verifies(batches[0] ?? requestsTo('/storm')[0]!, subscription.secret)).toBe(true);
    const grouped = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${subscription.id}&limit=200`, 200);
    expect(grouped.items.some((delivery) => delivery.mode === 'group' && delivery.events.length > 1)).toBe(true);
  });

  it('filters the delivery log by status, event type and time, a page at a time', async () => {
    const all = await notifier.json<{ items: DeliveryBody[]; nextCursor: string | null }>('GET', '/v1/deliveries?limit=2', 200);
    expect(all.items).toHaveLength(2);
    expect(all.nextCursor).not.toBeNull();
    const next = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?limit=2&cursor=${all.nextCursor ?? ''}`, 200);
    expect(next.items.map((delivery) => delivery.id)).not.toContain(all.items[0]?.id);
    const failed = await notifier.json<{ items: DeliveryBody[] }>('GET', '/v1/deliveries?status=failed&limit=200', 200);
    expect(failed.items.length).toBeGreaterThan(0);
    expect(failed.items.every((delivery) => delivery.status === 'failed')).toBe(true);
    const changes = await notifier.json<{ items: DeliveryBody[] }>('GET', '/v1/deliveries?eventType=assembly.address-changed', 200);
    expect(changes.items.length).toBeGreaterThan(0);
    expect(changes.items.every((delivery) => delivery.events.some((event) => event.type === 'assembly.address-changed'))).toBe(true);
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
    const text = await (await notifier.request('GET', '/metrics', { token: null })).text();
    expect(text).toMatch(/defib_notifier_deliveries_total\{[^}]*channel="webhook"[^}]*outcome="delivered"[^}]*\} [1-9]/);
    expect(text).toMatch(/defib_notifier_dead_letters_total\{[^}]*reason="exhausted"[^}]*\} [1-9]/);
    expect(text).toMatch(/defib_notifier_delivery_latency_seconds_count\{[^}]*channel="webhook"/);
    expect(text).toMatch(/defib_notifier_oldest_pending_seconds\{[^}]*\} \d/);
  });

  it('never writes a secret into its logs', () => {
    const logs = notifier.logs.join('\n');
    expect(logs).not.toMatch(/whsec_/);
  });
});
