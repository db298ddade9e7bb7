import { describe, expect, it } from 'vitest';
import { errorFromAnswer, readFault, redact } from './openstack-errors.ts';

describe('readFault', () => {
  it("reads Nova's one-key fault, Keystone's error, Neutron's NeutronError and Glance's HTML page", () => {
    expect(readFault('{"itemNotFound": {"message": "Instance x could not be found.", "code": 404}}')).toEqual({ code: 'itemNotFound', message: 'Instance x could not be found.' });
    expect(readFault('{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}')).toEqual({
      code: 'Unauthorized',
      message: 'The request you have made requires authentication.',
    });
    expect(readFault('{"NeutronError": {"type": "NetworkNotFound", "message": "Network n could not be found.", "detail": ""}}')).toEqual({ code: 'NetworkNotFound', message: 'Network n could not be found.' });
    expect(readFault('<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  No image found with ID x<br /><br />\n </body>\n</html>')).toEqual({
      message: '404 Not Found No image found with ID x',
    });
    expect(readFault('{"overLimit": {"code": 413, "message": "This request was rate-limited.", "retryAfter": "30"}}')).toEqual({ code: 'overLimit', message: 'This request was rate-limited.', retryAfter: '30' });
    expect(readFault('')).toBeUndefined();
  });
});

describe('redact', () => {
  it('replaces every secret, and leaves words shorter than four characters alone', () => {
    expect(redact('token tok-123 and password hunter2 and tok-123', ['tok-123', 'hunter2', 'ab'])).toBe('token [redacted] and password [redacted] and [redacted]');
  });
});

describe('errorFromAnswer', () => {
  const answer = { cloud: 'c', operation: 'launch', request: 'POST /servers', retryAfterHeader: null, now: 0, secrets: [] };

  it('takes a 5xx of a create as an unknown outcome when asked, except 503 which did nothing', () => {
    expect(errorFromAnswer({ ...answer, status: 500, body: '{"computeFault": {"message": "boom", "code": 500}}', outcomeUnknown: true })).toMatchObject({ kind: 'unavailable', outcomeUnknown: true, code: 'computeFault' });
  });

  it('says no explanation was given for an empty error body', () => {
    expect(errorFromAnswer({ ...answer, status: 502, body: '' }).detail).toBe('POST /servers answered 502 (no explanation given)');
  });

  it("reads Retry-After as an HTTP date on the driver's clock", () => {
    expect(errorFromAnswer({ ...answer, status: 429, body: '', retryAfterHeader: new Date(30_000).toUTCString(), now: 0 })).toMatchObject({ kind: 'throttled', retryAfterMs: 30_000 });
  });
});
