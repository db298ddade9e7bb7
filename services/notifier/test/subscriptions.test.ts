import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, assemblyFailed, deliveryOf, READ_TOKEN, startNotifier, type NotifierHarness, type ProblemBody, type SubscriptionBody } from './notifier-harness.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

describe('subscriptions', () => {
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

  async function refused(body: unknown, method = 'POST', path = '/v1/subscriptions'): Promise<ProblemBody> {
    const response = await notifier.request(method, path, { body });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    return (await response.json()) as ProblemBody;
  }

  describe('the API', () => {
    it('creates a webhook, shows its secret once, and never again in reads, lists, the database or the logs', async () => {
      const response = await notifier.request('POST', '/v1/subscriptions', {
        body: { kind: 'webhook', name: 'pager', url: `${receiver.url}/pager`, eventTypes: ['assembly.*', 'recovery.gave-up'], deployables: ['wordpress'], ownerEmail: 'ops@example.com' },
      });
      expect(response.status).toBe(201);
      const created = (await response.json()) as SubscriptionBody & { secret: string };
      expect(response.headers.get('location')).toBe(`/v1/subscriptions/${created.id}`);
      expect(created).toMatchObject({ kind: 'webhook', name: 'pager', hook: false, enabled: true, eventTypes: ['assembly.*', 'recovery.gave-up'], deployables: ['wordpress'], ownerEmail: 'ops@example.com' });
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const shown = await (await notifier.request('GET', `/v1/subscriptions/${created.id}`, { token: READ_TOKEN })).text();
      const listed = await (await notifier.request('GET', '/v1/subscriptions', { token: READ_TOKEN })).text();
      expect(shown).not.toContain(created.secret);
      expect(shown).not.toContain('secret"');
      expect(listed).not.toContain(created.secret);
      const rows = await notifier.service.kernel.database.db.selectFrom('subscriptions').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(created.secret.slice('whsec_'.length));
      expect(notifier.logs.join('\n')).not.toContain(created.secret.slice('whsec_'.length));
    });

    it('lists subscriptions a page at a time, filtered by kind and state', async () => {
      for (const name of ['a', 'b', 'c']) await notifier.json('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', name, url: `${receiver.url}/${name}`, enabled: name !== 'b' } });
      const first = await notifier.json<{ items: SubscriptionBody[]; nextCursor: string | null }>('GET', '/v1/subscriptions?limit=2', 200);
      expect(first.items).toHaveLength(2);
      const rest = await notifier.json<{ items: SubscriptionBody[]; nextCursor: string | null }>('GET', `/v1/subscriptions?limit=50&cursor=${first.nextCursor ?? ''}`, 200);
      const all = [...first.items, ...rest.items].map((item) => item.id);
      expect(new Set(all).size).toBe(all.length);
      expect(rest.nextCursor).toBeNull();
      const disabled = await notifier.json<{ items: SubscriptionBody[] }>('GET', '/v1/subscriptions?enabled=false', 200);
      expect(disabled.items.map((item) => item.name)).toEqual(['b']);
    });

    it('changes, disables, enables and deletes a subscription', async () => {
      const created = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}/changing` } });
      const patched = await notifier.json<SubscriptionBody>('PATCH', `/v1/subscriptions/${created.id}`, 200, { body: { eventTypes: ['resource.failed'], rateLimit: null, enabled: false } });
      expect(patched).toMatchObject({ eventTypes: ['resource.failed'], rateLimit: null, enabled: false, disabledReason: 'disabled by a user' });
      const enabled = await notifier.json<SubscriptionBody>('PATCH', `/v1/subscriptions/${created.id}`, 200, { body: { enabled: true, rateLimit: { burst: 5, perMinute: 30, groupWindow: '30s' } } });
      expect(enabled).toMatchObject({ enabled: true, disabledReason: null, rateLimit: { burst: 5, perMinute: 30, groupWindow: '30s' } });
      expect((await notifier.request('DELETE', `/v1/subscriptions/${created.id}`)).status).toBe(204);
      expect((await notifier.request('GET', `/v1/subscriptions/${created.id}`)).status).toBe(404);
      expect((await notifier.request('DELETE', `/v1/subscriptions/${created.id}`)).status).toBe(404);
    });

    it('gives up pending deliveries of a disabled subscription and delivers nothing more to it', async () => {
      receiver.script('/paused', [], { kind: 'status', status: 500 });
      const created = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}/paused`, eventTypes: ['assembly.failed'] } });
      await notifier.publish(assemblyFailed());
      await deliveryOf(notifier, created.id, (delivery) => delivery.attempts.length >= 1, 'a first failed attempt');
      await notifier.json('PATCH', `/v1/subscriptions/${created.id}`, 200, { body: { enabled: false } });
      const failed = await deliveryOf(notifier, created.id, (delivery) => delivery.status === 'failed', 'the pending delivery given up');
      expect(failed.failureReason).toBe('disabled');
    });

    it('requires the admin token to write and a token to read', async () => {
      expect((await notifier.request('GET', '/v1/subscriptions', { token: null })).status).toBe(401);
      expect((await notifier.request('POST', '/v1/subscriptions', { token: READ_TOKEN, body: { kind: 'webhook', url: `${receiver.url}/x` } })).status).toBe(403);
      expect((await notifier.request('GET', '/v1/deliveries', { token: READ_TOKEN })).status).toBe(200);
    });

    it('describes every route in its OpenAPI document', async () => {
      const document = await notifier.json<{ paths: Record<string, Record<string, { operationId: string }>> }>('GET', '/openapi.json', 200, { token: null });
      expect(Object.keys(document.paths)).toEqual(
        expect.arrayContaining(['/v1/subscriptions', '/v1/subscriptions/{id}', '/v1/subscriptions/{id}/rotate-secret', '/v1/subscriptions/{id}/redeliver-failed', '/v1/deliveries', '/v1/deliveries/{id}', '/v1/deliveries/{id}/redeliver']),
      );
      expect(document.paths['/v1/subscriptions']?.post?.operationId).toBe('createSubscription');
    });

    it('refuses email subscriptions while no SMTP server is configured', async () => {
      const problem = await refused({ kind: 'email', recipients: ['ops@example.com'] });
      expect(problem.issues).toEqual([{ path: 'kind', message: expect.stringContaining('NOTIFIER_SMTP_URL') as unknown }]);
    });
  });

  describe('bad input', () => {
    it('names an invalid URL', async () => {
      expect((await refused({ kind: 'webhook', url: 'not a url' })).issues).toEqual([{ path: 'url', message: 'must be an absolute http:// or https:// URL' }]);
      expect((await refused({ kind: 'webhook', url: 'ftp://127.0.0.1/x' })).issues).toEqual([{ path: 'url', message: 'must use http or https' }]);
      const withCredentials = await refused({ kind: 'webhook', url: 'http://user:hunter2@127.0.0.1/x' });
      expect(withCredentials.issues?.[0]?.path).toBe('url');
      expect(JSON.stringify(withCredentials)).not.toContain('hunter2');
    });

    it('names unknown event types and bad patterns', async () => {
      const problem = await refused({ kind: 'webhook', url: `${receiver.url}/x`, eventTypes: ['assembly.failed', 'assembly.exploded', 'bogus.*', 'assembly.*'] });
      expect(problem.issues).toEqual([
        { path: 'eventTypes[1]', message: expect.stringContaining('not a catalogued event type') as unknown },
        { path: 'eventTypes[2]', message: expect.stringContaining('no catalogued event type starts with "bogus."') as unknown },
      ]);
      expect((await refused({ kind: 'webhook', url: `${receiver.url}/x`, eventTypes: [] })).issues?.[0]?.path).toBe('eventTypes');
    });

    it('names malformed email addresses, unknown fields, bad durations and a missing kind', async () => {
      const owner = await refused({ kind: 'webhook', url: `${receiver.url}/x`, ownerEmail: 'not-an-address' });
      expect(owner.issues).toEqual([{ path: 'ownerEmail', message: expect.stringContaining('email address') as unknown }]);
      const unknown = await refused({ kind: 'webhook', url: `${receiver.url}/x`, colour: 'blue' });
      expect(unknown.issues?.map((issue) => issue.path)).toContain('colour');
      const window = await refused({ kind: 'webhook', url: `${receiver.url}/x`, rateLimit: { burst: 0, perMinute: 1, groupWindow: 'soon' } });
      expect(window.issues?.map((issue) => issue.path).sort()).toEqual(['rateLimit.burst', 'rateLimit.groupWindow']);
      expect((await refused({ url: `${receiver.url}/x` })).issues?.[0]?.path).toBe('kind');
      const wrongKind = await refused({ recipients: ['a@example.com'] }, 'PATCH', `/v1/subscriptions/${(await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}/x` } })).id}`);
      expect(wrongKind.issues).toEqual([{ path: 'recipients', message: 'does not apply to webhook subscriptions' }]);
      expect((await refused({}, 'PATCH', `/v1/subscriptions/${crypto.randomUUID()}`)).issues?.[0]?.message).toBe('must change at least one field');
    });

    it('names bad path and query parameters', async () => {
      const badId = await notifier.request('GET', '/v1/subscriptions/not-a-uuid');
      expect(badId.status).toBe(400);
      expect(((await badId.json()) as ProblemBody).issues).toEqual([{ path: 'params.id', message: 'must be a UUID' }]);
      const badQuery = await notifier.request('GET', '/v1/deliveries?eventType=nope&status=lost&since=yesterday');
      expect(badQuery.status).toBe(400);
      expect(((await badQuery.json()) as ProblemBody).issues?.map((issue) => issue.path).sort()).toEqual(['query.eventType', 'query.since', 'query.status']);
      const missingSince = await notifier.request('POST', `/v1/subscriptions/${crypto.randomUUID()}/redeliver-failed`);
      expect(((await missingSince.json()) as ProblemBody).issues).toEqual([{ path: 'query.since', message: 'is required' }]);
    });

    it('refuses an oversized body with 413 and a long field by name', async () => {
      const response = await notifier.request('POST', '/v1/subscriptions', { raw: JSON.stringify({ kind: 'webhook', url: `${receiver.url}/x`, name: 'x'.repeat(20_000) }) });
      expect(response.status).toBe(413);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect((await refused({ kind: 'webhook', url: `${receiver.url}/x`, name: 'x'.repeat(500) })).issues).toEqual([{ path: 'name', message: 'must be at most 200 characters' }]);
      expect((await refused({ kind: 'webhook', url: `http://127.0.0.1/${'a'.repeat(3000)}` })).issues?.[0]).toEqual({ path: 'url', message: 'must be at most 2048 characters' });
    });
  });

  describe('SSRF safety', () => {
    const expectRefusedUrl = async (url: string, fragment: string) => {
      const problem = await refused({ kind: 'webhook', url });
      expect(problem.issues).toEqual([{ path: 'url', message: expect.stringContaining(fragment) as unknown }]);
    };

    it('refuses link-local addresses, the metadata service included, whatever the configuration allows', async () => {
      await expectRefusedUrl('http://169.254.169.254/latest/meta-data/', 'link-local');
      await expectRefusedUrl('http://[fe80::1]/hook', 'link-local');
      await expectRefusedUrl('http://[::ffff:169.254.169.254]/hook', 'link-local');
      await expectRefusedUrl('http://0.0.0.0:8080/hook', 'unspecified');
    });

    it('refuses private ranges and IPv6 equivalents unless allowed, and names that resolve to them', async () => {
      await expectRefusedUrl('http://10.1.2.3/hook', 'private');
      await expectRefusedUrl('http://192.168.0.10/hook', 'private');
      await expectRefusedUrl('http://[fd00::1]/hook', 'private');
      await expectRefusedUrl('http://[::1]/hook', 'loopback');
      await expectRefusedUrl('http://[::ffff:10.0.0.1]/hook', 'private');
      notifier.dns.set('internal.test', ['203.0.114.7', '10.9.8.7']);
      await expectRefusedUrl('http://internal.test/hook', 'host internal.test resolves to a private address (10.9.8.7)');
      await expectRefusedUrl('http://nowhere.test/hook', 'does not resolve');
    });

    it('allows loopback only because the configuration lists 127.0.0.0/8, and refuses it on a notifier that does not', async () => {
      await notifier.json('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}/allowed` } });
      const strict = await notifier.replica({ allowedNetworks: [] });
      const response = await fetch(`${strict.url}/v1/subscriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'webhook', url: `${receiver.url}/strict` }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as ProblemBody).issues).toEqual([{ path: 'url', message: expect.stringContaining('loopback address (127.0.0.1)') as unknown }]);
      await strict.service.stop();
    });

    it('checks the address again at delivery time: a name that now resolves to the metadata service is not called', async () => {
      notifier.dns.set('hooks.test', ['127.0.0.1']);
      const port = new URL(receiver.url).port;
      const created = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `http://hooks.test:${port}/rebound`, eventTypes: ['assembly.failed'] } });
      notifier.dns.set('hooks.test', ['169.254.169.254']);
      await notifier.publish(assemblyFailed());
      const refusedDelivery = await deliveryOf(notifier, created.id, (delivery) => delivery.attempts.length >= 1, 'the refused attempt');
      expect(refusedDelivery.attempts[0]?.error).toContain('link-local');
      expect(receiver.requests.filter((request) => request.path === '/rebound')).toHaveLength(0);
      notifier.dns.set('hooks.test', ['127.0.0.1']);
      await deliveryOf(notifier, created.id, (delivery) => delivery.status === 'delivered', 'delivery once DNS is sane again');
      expect(receiver.requests.filter((request) => request.path === '/rebound')).toHaveLength(1);
    });
  });
});
