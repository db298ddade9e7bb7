import { describe, expect, it } from 'vitest';
import { isSustainedFailure, judgeEmailAttempt, judgeWebhookAttempt, nextStep } from './delivery-outcome.ts';
import type { RetryPolicy } from './retry-schedule.ts';

const now = new Date('2026-11-26T10:00:00Z');
const policy: RetryPolicy = { attempts: 3, initialDelayMs: 1_000, multiplier: 2, maxDelayMs: 60_000, jitter: 0 };
const response = (status: number, retryAfter?: string) => ({ kind: 'response' as const, status, retryAfter, latencyMs: 5 });

describe('attempt outcomes', () => {
  it('delivers on 2xx, gives up and disables on 410, retries everything else', () => {
    expect(judgeWebhookAttempt(response(204), now)).toEqual({ kind: 'delivered', statusCode: 204 });
    expect(judgeWebhookAttempt(response(410), now)).toMatchObject({ kind: 'gone', statusCode: 410 });
    expect(judgeWebhookAttempt(response(500), now)).toEqual({ kind: 'retryable', error: 'HTTP 500', statusCode: 500 });
    expect(judgeWebhookAttempt(response(301), now)).toEqual({ kind: 'retryable', error: 'HTTP 301: redirects are not followed', statusCode: 301 });
    expect(judgeWebhookAttempt({ kind: 'error', error: 'connection refused', latencyMs: 1 }, now)).toEqual({ kind: 'retryable', error: 'connection refused' });
  });

  it('reads Retry-After on 429 and 503 only', () => {
    expect(judgeWebhookAttempt(response(429, '30'), now)).toMatchObject({ retryAfterMs: 30_000 });
    expect(judgeWebhookAttempt(response(503, '5'), now)).toMatchObject({ retryAfterMs: 5_000 });
    expect(judgeWebhookAttempt(response(500, '30'), now)).not.toHaveProperty('retryAfterMs');
  });

  it('treats SMTP 5xx as permanent, 4xx and silence as worth retrying', () => {
    expect(judgeEmailAttempt(undefined)).toEqual({ kind: 'delivered' });
    expect(judgeEmailAttempt({ responseCode: 550, command: 'RCPT TO' })).toEqual({ kind: 'permanent', error: 'SMTP 550 after RCPT: rejected permanently', statusCode: 550 });
    expect(judgeEmailAttempt({ responseCode: 451, command: 'RCPT TO' })).toMatchObject({ kind: 'retryable', statusCode: 451 });
    expect(judgeEmailAttempt({ code: 'ETIMEDOUT' })).toEqual({ kind: 'retryable', error: 'SMTP server unreachable or not answering (ETIMEDOUT)' });
  });

  it('schedules the next attempt until the schedule is exhausted', () => {
    const retry = { kind: 'retryable' as const, error: 'HTTP 500' };
    expect(nextStep(retry, policy, 1, () => 0.5)).toEqual({ status: 'pending', delayMs: 1_000 });
    expect(nextStep(retry, policy, 2, () => 0.5)).toEqual({ status: 'pending', delayMs: 2_000 });
    expect(nextStep(retry, policy, 3, () => 0.5)).toEqual({ status: 'failed', why: 'exhausted' });
    expect(nextStep({ kind: 'gone', error: 'gone', statusCode: 410 }, policy, 1, () => 0.5)).toEqual({ status: 'failed', why: 'gone' });
    expect(nextStep({ kind: 'permanent', error: 'no' }, policy, 1, () => 0.5)).toEqual({ status: 'failed', why: 'permanent' });
  });

  it('calls a failure sustained after enough failures over enough time', () => {
    const rule = { afterMs: 3_600_000, minFailures: 5 };
    const since = new Date(now.getTime() - 2 * 3_600_000);
    expect(isSustainedFailure({ consecutiveFailures: 5, failingSince: since }, rule, now)).toBe(true);
    expect(isSustainedFailure({ consecutiveFailures: 4, failingSince: since }, rule, now)).toBe(false);
    expect(isSustainedFailure({ consecutiveFailures: 50, failingSince: new Date(now.getTime() - 60_000) }, rule, now)).toBe(false);
    expect(isSustainedFailure({ consecutiveFailures: 0, failingSince: null }, rule, now)).toBe(false);
  });
});
