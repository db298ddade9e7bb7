/**
 * The notifier's API refuses hostile bodies with a 4xx (the shared table in
 * `test/support/hostile-input.ts`), at the production body limit, and keeps serving.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectHostileBodiesRefused, hostileBodies, type HostileBody } from '../../../test/support/hostile-input.ts';
import { startNotifier, type NotifierHarness, type SubscriptionBody } from './notifier-harness.ts';

const BODY_LIMIT_BYTES = 1_048_576;

describe('notifier: bad input', () => {
  let notifier: NotifierHarness;
  let subscription: SubscriptionBody;

  beforeAll(async () => {
    notifier = await startNotifier({ bodyLimitBytes: BODY_LIMIT_BYTES });
    subscription = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: 'http://127.0.0.1:9/hook' } });
  });

  afterAll(async () => {
    await notifier?.close();
  });

  const send = (method: string, path: string) => (body: HostileBody) => notifier.request(method, path, { raw: body.raw, contentType: body.contentType });

  it('refuses hostile bodies on every route that takes one, and keeps serving', async () => {
    await expectHostileBodiesRefused(
      [
        { name: 'POST /v1/subscriptions', send: send('POST', '/v1/subscriptions') },
        { name: 'PATCH /v1/subscriptions/{id}', send: send('PATCH', `/v1/subscriptions/${subscription.id}`) },
        { name: 'POST /v1/subscriptions/{id}/rotate-secret', send: send('POST', `/v1/subscriptions/${subscription.id}/rotate-secret`) },
      ],
      hostileBodies(BODY_LIMIT_BYTES),
      () => notifier.request('GET', '/healthz', { token: null }),
    );
  });
});
