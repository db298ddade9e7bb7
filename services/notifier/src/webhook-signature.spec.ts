import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, secretKey, signPayload, webhookHeaders } from './webhook-signature.ts';

describe('Standard Webhooks signing', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

  it('matches the specification example', () => {
    // From the Standard Webhooks specification.
    const body = '{"test": 2432232314}';
    expect(signPayload(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('produces headers an independent implementation verifies', () => {
    const fresh = generateWebhookSecret();
    const body = JSON.stringify({ type: 'assembly.failed', timestamp: '2026-11-26T10:00:00.000Z', data: {} });
    const headers = webhookHeaders([fresh], 'b5a7b5a2-7c2e-4f73-9f59-0e4a8f1e0d11', new Date(), body);
    expect(new Webhook(fresh).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(fresh).verify(`${body} `, headers)).toThrow();
  });

  it('signs with every secret given, space-separated, so both verify during a rotation', () => {
    const [next, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const body = '{"type":"x"}';
    const headers = webhookHeaders([next, previous], 'id-1', new Date(), body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(next).verify(body, headers)).toBeDefined();
    expect(new Webhook(previous).verify(body, headers)).toBeDefined();
  });

  it('uses the base64 part after whsec_ as the key and makes 32-byte secrets', () => {
    const fresh = generateWebhookSecret();
    expect(fresh).toMatch(/^whsec_/);
    expect(secretKey(fresh)).toHaveLength(32);
    expect(() => secretKey('not-a-secret')).toThrow('whsec_');
    expect(() => webhookHeaders([], 'id', new Date(), '{}')).toThrow();
  });

  it('puts the attempt time in seconds into webhook-timestamp', () => {
    const headers = webhookHeaders([secret], 'id-2', new Date('2026-11-26T10:00:00.900Z'), '{}');
    expect(headers['webhook-timestamp']).toBe(String(Date.parse('2026-11-26T10:00:00Z') / 1000));
    expect(headers['webhook-id']).toBe('id-2');
  });
});
