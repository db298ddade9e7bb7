/**
 * What an attempt means for its delivery: delivered, try again (when), or give up — and whether
 * the subscription itself must stop (a webhook answering 410 Gone). Pure, so every rule is a
 * unit test.
 */
import { nextRetryDelay, parseRetryAfter, type RandomSource, type RetryPolicy } from './retry-schedule.ts';
import type { FailureReason } from './tables.ts';
import type { WebhookResult } from './webhook-sender.ts';

/** How one attempt went. */
export type AttemptVerdict =
  | { kind: 'delivered'; statusCode?: number }
  | { kind: 'retryable'; error: string; statusCode?: number; retryAfterMs?: number }
  /** This delivery can never succeed (an SMTP 5xx): give it up now. */
  | { kind: 'permanent'; error: string; statusCode?: number }
  /** The receiver said it is gone for good (410): give up and disable the subscription. */
  | { kind: 'gone'; error: string; statusCode: number };

/** Judges a webhook attempt: 2xx delivered; 410 gone; everything else (3xx included) is retried. */
export function judgeWebhookAttempt(result: WebhookResult, now: Date): AttemptVerdict {
  if (result.kind === 'error') return { kind: 'retryable', error: result.error };
  const { status } = result;
  if (status >= 200 && status < 300) return { kind: 'delivered', statusCode: status };
  if (status === 410) return { kind: 'gone', error: 'HTTP 410 Gone: the receiver asked not to be called again', statusCode: status };
  if (status >= 300 && status < 400) return { kind: 'retryable', error: `HTTP ${status}: redirects are not followed`, statusCode: status };
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(result.retryAfter, now) : undefined;
  return { kind: 'retryable', error: `HTTP ${status}`, statusCode: status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
}

/** The parts of a nodemailer / SMTP failure that matter. */
export interface SmtpFailure {
  responseCode?: number | undefined;
  code?: string | undefined;
  command?: string | undefined;
}

/** Judges an email attempt: SMTP 5xx is permanent, 4xx and anything without a reply code (network, timeout) is retried. */
export function judgeEmailAttempt(failure: SmtpFailure | undefined): AttemptVerdict {
  if (failure === undefined) return { kind: 'delivered' };
  const code = failure.responseCode;
  const during = failure.command === undefined ? '' : ` after ${failure.command.split(' ')[0]}`;
  if (code !== undefined && code >= 500 && code < 600) return { kind: 'permanent', error: `SMTP ${code}${during}: rejected permanently`, statusCode: code };
  if (code !== undefined && code >= 400 && code < 500) return { kind: 'retryable', error: `SMTP ${code}${during}: rejected for now`, statusCode: code };
  const transport = failure.code !== undefined && /^[A-Z0-9_]{2,40}$/.test(failure.code) ? ` (${failure.code})` : '';
  return { kind: 'retryable', error: `SMTP server unreachable or not answering${transport}` };
}

/** What happens to the delivery next. */
export type NextStep =
  | { status: 'delivered' }
  | { status: 'pending'; delayMs: number }
  | { status: 'failed'; why: FailureReason };

/** The next step after `attemptsMade` attempts (this one included) in the current schedule. */
export function nextStep(verdict: AttemptVerdict, policy: RetryPolicy, attemptsMade: number, random: RandomSource): NextStep {
  switch (verdict.kind) {
    case 'delivered':
      return { status: 'delivered' };
    case 'permanent':
      return { status: 'failed', why: 'permanent' };
    case 'gone':
      return { status: 'failed', why: 'gone' };
    case 'retryable': {
      const delayMs = nextRetryDelay(policy, attemptsMade, random, verdict.retryAfterMs);
      return delayMs === undefined ? { status: 'failed', why: 'exhausted' } : { status: 'pending', delayMs };
    }
  }
}

/**
 * Whether a subscription has failed long enough to be disabled: at least `minFailures`
 * consecutive failed attempts, the first of them at least `afterMs` ago.
 */
export function isSustainedFailure(health: { consecutiveFailures: number; failingSince: Date | null }, rule: { afterMs: number; minFailures: number }, now: Date): boolean {
  if (health.failingSince === null) return false;
  return health.consecutiveFailures >= rule.minFailures && now.getTime() - health.failingSince.getTime() >= rule.afterMs;
}
