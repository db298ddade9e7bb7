import { ConfigError } from '@defib/platform';
import { describe, expect, it } from 'vitest';
import { loadNotifierConfig } from './config.ts';

const KEY = Buffer.alloc(32, 1).toString('base64');

describe('notifier configuration', () => {
  it('has defaults for everything but the secret key', () => {
    const config = loadNotifierConfig({ DEFIB_SECRET_KEY: KEY });
    expect(config.port).toBe(7104);
    expect(config.retry).toEqual({ attempts: 12, initialDelayMs: 5_000, multiplier: 3, maxDelayMs: 21_600_000, jitter: 0.2 });
    expect(config.attemptTimeoutMs).toBe(10_000);
    expect(config.leaseMs).toBe(40_000);
    expect(config.allowedNetworks).toEqual([]);
    expect(config.defaultRateLimit).toEqual({ burst: 10, perMinute: 60, groupWindowMs: 10_000 });
    expect(config.email.smtpUrl).toBeUndefined();
  });

  it('reads every setting', () => {
    const config = loadNotifierConfig({
      DEFIB_SECRET_KEY: KEY,
      NOTIFIER_RETRY_ATTEMPTS: '5',
      NOTIFIER_RETRY_INITIAL_DELAY: '100ms',
      NOTIFIER_ALLOWED_NETWORKS: '127.0.0.0/8, 10.0.0.0/8',
      NOTIFIER_LEASE: '2m',
      NOTIFIER_SMTP_URL: 'smtp://mailer:pw@127.0.0.1:2525',
      NOTIFIER_DISABLE_AFTER: '0s',
    });
    expect(config.retry.attempts).toBe(5);
    expect(config.retry.initialDelayMs).toBe(100);
    expect(config.allowedNetworks).toEqual(['127.0.0.0/8', '10.0.0.0/8']);
    expect(config.leaseMs).toBe(120_000);
    expect(config.email.smtpUrl).toBe('smtp://mailer:pw@127.0.0.1:2525');
    expect(config.autoDisable.afterMs).toBe(0);
  });

  it('lists every bad variable at once', () => {
    let error: unknown;
    try {
      loadNotifierConfig({ NOTIFIER_ALLOWED_NETWORKS: '10.0.0.0/99', NOTIFIER_RETRY_JITTER: '2', NOTIFIER_ATTEMPT_TIMEOUT: '30s', NOTIFIER_LEASE: '10s', NOTIFIER_SMTP_URL: 'http://mail' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((problem) => problem.variable).sort()).toEqual([
      'DEFIB_SECRET_KEY',
      'NOTIFIER_ALLOWED_NETWORKS',
      'NOTIFIER_RETRY_JITTER',
      'NOTIFIER_SMTP_URL',
    ]);
  });

  it('refuses a lease no longer than an attempt', () => {
    expect(() => loadNotifierConfig({ DEFIB_SECRET_KEY: KEY, NOTIFIER_ATTEMPT_TIMEOUT: '30s', NOTIFIER_LEASE: '10s' })).toThrow(/NOTIFIER_LEASE/);
  });
});
