/** The notifier's environment: the shared service variables plus delivery, safety and email settings. */
import { makeDurationSchema } from '@defib/contracts';
import { loadConfig, secretKeyVariable, serviceEnvironmentShape, toServiceConfig, type Environment, type ServiceConfig } from '@defib/platform';
import { z } from 'zod';
import { parseCidr } from './network-policy.ts';
import type { RetryPolicy } from './retry-schedule.ts';
import type { RateLimit } from './storm-control.ts';

const duration = makeDurationSchema();
const durationOrZero = makeDurationSchema({ allowZero: true });
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const cidrList = z
  .string()
  .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
  .refine((entries) => entries.every((entry) => parseCidr(entry) !== undefined), 'must be a comma-separated list of CIDR networks such as 127.0.0.0/8,10.0.0.0/8,::1/128');

export const notifierEnvironmentSchema = z
  .object({
    // delivery workers and event intake run side by side: more connections than the shared default
    ...serviceEnvironmentShape(7104, { databasePoolSize: 30 }),
    /** 32 random bytes, base64: encrypts webhook secrets at rest. `openssl rand -base64 32` makes one. */
    DEFIB_SECRET_KEY: secretKeyVariable,
    NOTIFIER_RETRY_ATTEMPTS: wholeNumber(1, 100).default(12),
    NOTIFIER_RETRY_INITIAL_DELAY: duration.default(5_000),
    NOTIFIER_RETRY_MULTIPLIER: z.coerce.number({ message: 'must be a number' }).min(1, 'must be at least 1').max(10, 'must be at most 10').default(3),
    NOTIFIER_RETRY_MAX_DELAY: duration.default(6 * 3_600_000),
    NOTIFIER_RETRY_JITTER: z.coerce.number({ message: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').default(0.2),
    NOTIFIER_ATTEMPT_TIMEOUT: duration.default(10_000),
    NOTIFIER_LEASE: duration.optional(),
    NOTIFIER_CONCURRENCY: wholeNumber(1, 1000).default(16),
    NOTIFIER_POLL_INTERVAL: duration.default(1_000),
    NOTIFIER_ALLOWED_NETWORKS: cidrList.default([]),
    NOTIFIER_SECRET_OVERLAP: durationOrZero.default(24 * 3_600_000),
    NOTIFIER_DISABLE_AFTER: durationOrZero.default(3 * 86_400_000),
    NOTIFIER_DISABLE_AFTER_FAILURES: wholeNumber(1, 1_000_000).default(10),
    NOTIFIER_STORM_BURST: wholeNumber(1, 100_000).default(10),
    NOTIFIER_STORM_PER_MINUTE: wholeNumber(1, 1_000_000).default(60),
    NOTIFIER_STORM_WINDOW: duration.default(10_000),
    NOTIFIER_GROUP_MAX_EVENTS: wholeNumber(2, 10_000).default(100),
    NOTIFIER_RETENTION: duration.default(30 * 86_400_000),
    NOTIFIER_SMTP_URL: z.url({ protocol: /^smtps?$/, message: 'must be an smtp:// or smtps:// URL' }).optional(),
    NOTIFIER_SMTP_TIMEOUT: duration.default(10_000),
    NOTIFIER_EMAIL_FROM: z.string().min(3).default('Defib <defib@localhost>'),
  })
  .superRefine((env, ctx) => {
    if (env.NOTIFIER_LEASE !== undefined && env.NOTIFIER_LEASE <= env.NOTIFIER_ATTEMPT_TIMEOUT) {
      ctx.addIssue({ code: 'custom', path: ['NOTIFIER_LEASE'], message: 'must be longer than NOTIFIER_ATTEMPT_TIMEOUT, or an attempt could outlive its lease' });
    }
    if (env.NOTIFIER_RETRY_INITIAL_DELAY > env.NOTIFIER_RETRY_MAX_DELAY) {
      ctx.addIssue({ code: 'custom', path: ['NOTIFIER_RETRY_INITIAL_DELAY'], message: 'must not exceed NOTIFIER_RETRY_MAX_DELAY' });
    }
  });

export interface EmailSettings {
  /** `smtp://user:pass@host:587`; email subscriptions are refused while unset. Never logged. */
  smtpUrl: string | undefined;
  from: string;
  /** Connection, greeting and socket timeout of the SMTP client. */
  timeoutMs: number;
}

export interface NotifierConfig extends ServiceConfig {
  secretKey: string;
  retry: RetryPolicy;
  attemptTimeoutMs: number;
  /** How long a worker owns a claimed delivery; a crashed worker's deliveries are retried after it. */
  leaseMs: number;
  /** Attempts in flight at once, per process. */
  concurrency: number;
  /** Longest a worker sleeps without looking for due deliveries (it is also woken on new work). */
  pollIntervalMs: number;
  /** Private and loopback networks webhooks may call (CIDRs). */
  allowedNetworks: string[];
  /** How long a rotated-out secret keeps signing, by default. */
  secretOverlapMs: number;
  /** A webhook failing at least `minFailures` times in a row for `afterMs` is disabled. */
  autoDisable: { afterMs: number; minFailures: number };
  /** The storm control subscriptions get unless they set their own. */
  defaultRateLimit: RateLimit;
  /** A group is sent as soon as it holds this many events. */
  groupMaxEvents: number;
  /** Finished deliveries (and their attempts and events) are kept this long. */
  retentionMs: number;
  email: EmailSettings;
}

export function loadNotifierConfig(env: Environment): NotifierConfig {
  const parsed = loadConfig(notifierEnvironmentSchema, env);
  return {
    ...toServiceConfig(parsed),
    secretKey: parsed.DEFIB_SECRET_KEY,
    retry: {
      attempts: parsed.NOTIFIER_RETRY_ATTEMPTS,
      initialDelayMs: parsed.NOTIFIER_RETRY_INITIAL_DELAY,
      multiplier: parsed.NOTIFIER_RETRY_MULTIPLIER,
      maxDelayMs: parsed.NOTIFIER_RETRY_MAX_DELAY,
      jitter: parsed.NOTIFIER_RETRY_JITTER,
    },
    attemptTimeoutMs: parsed.NOTIFIER_ATTEMPT_TIMEOUT,
    leaseMs: parsed.NOTIFIER_LEASE ?? parsed.NOTIFIER_ATTEMPT_TIMEOUT + 30_000,
    concurrency: parsed.NOTIFIER_CONCURRENCY,
    pollIntervalMs: parsed.NOTIFIER_POLL_INTERVAL,
    allowedNetworks: parsed.NOTIFIER_ALLOWED_NETWORKS,
    secretOverlapMs: parsed.NOTIFIER_SECRET_OVERLAP,
    autoDisable: { afterMs: parsed.NOTIFIER_DISABLE_AFTER, minFailures: parsed.NOTIFIER_DISABLE_AFTER_FAILURES },
    defaultRateLimit: { burst: parsed.NOTIFIER_STORM_BURST, perMinute: parsed.NOTIFIER_STORM_PER_MINUTE, groupWindowMs: parsed.NOTIFIER_STORM_WINDOW },
    groupMaxEvents: parsed.NOTIFIER_GROUP_MAX_EVENTS,
    retentionMs: parsed.NOTIFIER_RETENTION,
    email: { smtpUrl: parsed.NOTIFIER_SMTP_URL, from: parsed.NOTIFIER_EMAIL_FROM, timeoutMs: parsed.NOTIFIER_SMTP_TIMEOUT },
  };
}
