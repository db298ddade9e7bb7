/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): a secret is `whsec_` followed by
 * base64 key bytes; each request carries `webhook-id` (stable across retries and redeliveries),
 * `webhook-timestamp` (seconds, of this attempt) and `webhook-signature`, a space-separated list
 * of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret that currently signs — two
 * while a rotated-out secret is still within its overlap.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

/** A new secret: `whsec_` + 32 random bytes in base64. */
export function generateWebhookSecret(random: (size: number) => Buffer = randomBytes): string {
  return `${SECRET_PREFIX}${random(SECRET_BYTES).toString('base64')}`;
}

/** The key bytes of a `whsec_…` secret. */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new TypeError('a webhook secret starts with whsec_');
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** One `v1,<signature>` entry. */
export function signPayload(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers for one attempt, signed with every given secret. */
export function webhookHeaders(secrets: readonly string[], id: string, at: Date, body: string): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  if (secrets.length === 0) throw new TypeError('at least one secret must sign');
  const timestamp = Math.floor(at.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((secret) => signPayload(secret, id, timestamp, body)).join(' '),
  };
}
