import { describe, expect, it } from 'vitest';
import { CloudError, describeTransportError, kindForStatus, parseRetryAfter } from './cloud-error.ts';

describe('cloud errors', () => {
  it('name the cloud and the operation in their message', () => {
    const error = new CloudError('not-found', 'sim-a', 'servers.show', 'Instance abc could not be found.', { status: 404, code: 'itemNotFound' });
    expect(error.message).toBe('cloud sim-a: servers.show failed: Instance abc could not be found.');
    expect(error).toMatchObject({ kind: 'not-found', status: 404, code: 'itemNotFound', transient: false, outcomeUnknown: false });
  });

  it('map HTTP statuses to kinds', () => {
    expect([401, 403, 404, 409, 429, 400, 413, 500, 502, 503].map(kindForStatus)).toEqual(['auth', 'auth', 'not-found', 'conflict', 'throttled', 'rejected', 'rejected', 'unavailable', 'unavailable', 'unavailable']);
  });

  it('read Retry-After as seconds or as an HTTP date', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(parseRetryAfter('7', now)).toBe(7_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('tell a request that never left from one that may have reached the cloud', () => {
    const failed = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
    expect(describeTransportError(failed('ENOTFOUND'))).toEqual({ detail: 'cannot resolve the host name (ENOTFOUND)', outcomeUnknown: false });
    expect(describeTransportError(failed('ECONNREFUSED')).outcomeUnknown).toBe(false);
    expect(describeTransportError(failed('ECONNRESET')).outcomeUnknown).toBe(true);
    expect(describeTransportError(new DOMException('late', 'TimeoutError'))).toEqual({ detail: 'no answer within the timeout', outcomeUnknown: true });
  });
});
