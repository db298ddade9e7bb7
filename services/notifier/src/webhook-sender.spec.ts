import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookSender } from './webhook-sender.ts';

describe('webhook sender', () => {
  const sender = createWebhookSender();
  const url = new URL('https://hooks.example.com/defib');
  const send = (timeoutMs = 1_000) => sender.send({ url, body: '{"type":"x"}', headers: { 'webhook-id': 'id-1' }, addresses: ['93.184.216.34'], timeoutMs });

  beforeAll(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  afterAll(() => {
    nock.enableNetConnect();
    sender.close();
  });

  it('posts the JSON body with the given headers and reports the status', async () => {
    const scope = nock('https://hooks.example.com').matchHeader('webhook-id', 'id-1').matchHeader('content-type', 'application/json').post('/defib', '{"type":"x"}').reply(204);
    expect(await send()).toMatchObject({ kind: 'response', status: 204 });
    expect(scope.isDone()).toBe(true);
  });

  it('reports a 500, a 503 with Retry-After and a redirect without following it', async () => {
    nock('https://hooks.example.com').post('/defib').reply(500, 'stack trace the log must not see');
    expect(await send()).toMatchObject({ kind: 'response', status: 500 });
    nock('https://hooks.example.com').post('/defib').reply(503, '', { 'Retry-After': '120' });
    expect(await send()).toMatchObject({ kind: 'response', status: 503, retryAfter: '120' });
    const elsewhere = nock('https://elsewhere.example.com').post('/').reply(200);
    nock('https://hooks.example.com').post('/defib').reply(302, '', { Location: 'https://elsewhere.example.com/' });
    expect(await send()).toMatchObject({ kind: 'response', status: 302 });
    expect(elsewhere.isDone()).toBe(false);
  });

  it('turns a reset connection and a slow answer into short errors', async () => {
    nock('https://hooks.example.com').post('/defib').replyWithError(Object.assign(new Error('socket hang up at https://hooks.example.com/defib?token=abc'), { code: 'ECONNRESET' }));
    const reset = await send();
    expect(reset).toMatchObject({ kind: 'error', error: 'connection closed by the receiver before it answered' });
    expect(JSON.stringify(reset)).not.toContain('token=abc');
    nock('https://hooks.example.com').post('/defib').replyWithError(Object.assign(new Error('Parse Error: Expected HTTP/'), { code: 'HPE_INVALID_CONSTANT' }));
    expect(await send()).toMatchObject({ kind: 'error', error: 'invalid HTTP response (HPE_INVALID_CONSTANT)' });
    nock('https://hooks.example.com').post('/defib').delay(500).reply(200);
    const slow = await send(100);
    expect(slow).toMatchObject({ kind: 'error', error: 'timed out after 100 ms' });
    expect(slow.latencyMs).toBeLessThan(400);
  });
});
