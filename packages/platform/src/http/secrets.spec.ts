import { describe, expect, it } from 'vitest';
import { serializeError } from '../logger.ts';
import { scrubSecrets } from './secrets.ts';

describe('secret scrubbing', () => {
  it('cuts credentials out of URLs and tokens out of authorization values', () => {
    expect(scrubSecrets('connect ECONNREFUSED postgres://defib:hunter2@db:5432/x')).toBe('connect ECONNREFUSED postgres://[redacted]@db:5432/x');
    expect(scrubSecrets('amqp://guest:guest@rabbit and Bearer abc.def-123')).toBe('amqp://[redacted]@rabbit and Bearer [redacted]');
    expect(scrubSecrets('http://host:7200/identity/v3')).toBe('http://host:7200/identity/v3');
  });

  it('describes an error for the log with message, stack and cause scrubbed', () => {
    const error = new Error('pool failed', { cause: Object.assign(new Error('amqp://u:p4ss@h refused'), { code: 'ECONNREFUSED' }) });
    const logged = JSON.stringify(serializeError(error));
    expect(logged).toContain('ECONNREFUSED');
    expect(logged).toContain('pool failed');
    expect(logged).not.toContain('p4ss');
  });
});
