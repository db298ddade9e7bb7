import type { DomainEvent } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/index.ts';
import { assemblyFailed, deliveryOf, recoveryStarted, startNotifier, world, type DeliveryBody, type NotifierHarness, type SubscriptionBody } from './notifier-harness.ts';
import { startSmtpServer, type SmtpTestServer } from './smtp-test-server.ts';
import { answer, startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

describe('email', () => {
  let notifier: NotifierHarness;
  let smtp: SmtpTestServer;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    receiver = await startWebhookReceiver();
    notifier = await startNotifier({
      email: { smtpUrl: smtp.url, from: 'Defib <defib@notifier.test>', timeoutMs: 2_000 },
      autoDisable: { afterMs: 0, minFailures: 3 },
    });
  });

  afterAll(async () => {
    await notifier?.close();
    await receiver?.close();
    await smtp?.close();
  });

  const mailsTo = (recipient: string) => smtp.mails.filter((mail) => mail.to.includes(recipient));

  it('groups the events of a digest window into one message per recipient and deployable', async () => {
    const subscription = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, {
      body: { kind: 'email', name: 'on-call', recipients: ['alice@example.com', 'bob@example.com'], eventTypes: ['assembly.failed', 'recovery.*'], digestWindow: '600ms' },
    });
    expect(subscription).toMatchObject({ recipients: ['alice@example.com', 'bob@example.com'], digestWindow: '600ms' });
    const wordpress = [assemblyFailed(), recoveryStarted(), assemblyFailed(world.wordpress, 'i-0002')];
    const shop = assemblyFailed(world.shop);
    for (const event of [...wordpress, shop]) await notifier.publish(event);
    await waitFor(() => (mailsTo('alice@example.com').length >= 2 && mailsTo('bob@example.com').length >= 2 ? true : undefined), { what: 'two digests each' });
    expect(smtp.mails).toHaveLength(4);
    const aliceWordpress = mailsTo('alice@example.com').find((mail) => mail.subject.includes('wordpress'));
    expect(aliceWordpress?.subject).toBe('[Defib] wordpress: 3 events (2× assembly.failed, 1× recovery.started)');
    expect(aliceWordpress?.text).toContain('The cloud reports the VM of assembly db of wordpress as ERROR (instance i-0001).');
    expect(aliceWordpress?.text).toContain('What Defib does: Defib opens an incident and recovers it.');
    expect(aliceWordpress?.text).toContain('Reason: the cloud reports ERROR');
    expect(aliceWordpress?.html).toContain('<strong>recovery.started</strong>');
    const aliceShop = mailsTo('alice@example.com').find((mail) => mail.subject.includes('shop'));
    expect(aliceShop?.subject).toBe('[Defib] shop: assembly.failed — assembly db of shop');
    const deliveries = await notifier.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${subscription.id}`, 200);
    expect(deliveries.items).toHaveLength(4);
    const digest = deliveries.items.find((delivery) => delivery.recipient === 'alice@example.com' && delivery.events.length === 3);
    expect(digest?.events.map((event) => event.id).sort()).toEqual(wordpress.map((event) => event.id).sort());
    expect(aliceWordpress?.messageId).toBe(`<${digest?.id}@notifier.test>`);
  });

  it('retries a 4xx answer and delivers on the next attempt', async () => {
    smtp.script('later@example.com', [{ code: 451, message: 'Try again later' }]);
    const subscription = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, { body: { kind: 'email', recipients: ['later@example.com'], eventTypes: ['assembly.failed'], digestWindow: '0s' } });
    await notifier.publish(assemblyFailed());
    const delivered = await deliveryOf(notifier, subscription.id, (delivery) => delivery.status === 'delivered', 'the retried email');
    expect(delivered.attempts.map((attempt) => [attempt.statusCode, attempt.outcome])).toEqual([
      [451, 'retry'],
      [null, 'delivered'],
    ]);
    expect(delivered.attempts[0]?.error).toContain('SMTP 451');
    expect(mailsTo('later@example.com')).toHaveLength(1);
  });

  it('gives up at once on a 5xx answer and announces notification.exhausted', async () => {
    smtp.script('nobody@example.com', [{ code: 550, message: 'No such user' }]);
    const subscription = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, { body: { kind: 'email', recipients: ['nobody@example.com'], eventTypes: ['assembly.failed'], digestWindow: '0s' } });
    const event = assemblyFailed();
    await notifier.publish(event);
    const failed = await deliveryOf(notifier, subscription.id, (delivery) => delivery.status === 'failed', 'the refused email');
    expect(failed.failureReason).toBe('permanent');
    expect(failed.attempts).toHaveLength(1);
    expect(failed.lastError).toContain('SMTP 550');
    const exhausted = await notifier.eventMatching(
      (candidate): candidate is Extract<DomainEvent, { type: 'notification.exhausted' }> => candidate.type === 'notification.exhausted' && candidate.data.deliveryId === failed.id,
      'notification.exhausted',
    );
    expect(exhausted.data).toMatchObject({ eventId: event.id, attempts: 1, subscriptionId: subscription.id });
  });

  it('disables a webhook that keeps failing and tells its owner by email', async () => {
    receiver.script('/broken', [], answer.status(500));
    const subscription = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, {
      body: { kind: 'webhook', name: 'broken-hook', url: `${receiver.url}/broken`, eventTypes: ['assembly.failed'], ownerEmail: 'owner@example.com' },
    });
    await notifier.publish(assemblyFailed());
    await waitFor(() => (mailsTo('owner@example.com').length > 0 ? true : undefined), { what: 'the owner to be told' });
    const shown = await notifier.json<SubscriptionBody>('GET', `/v1/subscriptions/${subscription.id}`, 200);
    expect(shown.enabled).toBe(false);
    expect(shown.disabledReason).toContain('3 in a row');
    const [notice] = mailsTo('owner@example.com');
    expect(notice?.subject).toBe('[Defib] Webhook subscription broken-hook was disabled');
    expect(notice?.text).toContain(`Endpoint: ${receiver.url}`);
    expect(notice?.text).not.toContain('/broken');
    expect(notice?.text).toContain('redeliver-failed');
    const failed = await deliveryOf(notifier, subscription.id, (delivery) => delivery.mode === 'single' && delivery.status === 'failed', 'the given-up delivery');
    expect(failed.failureReason).toBe('disabled');
  });
});
