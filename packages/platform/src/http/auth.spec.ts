import { describe, expect, it } from 'vitest';
import { bearerToken, createAuthenticator, type AuthSettings } from './auth.ts';
import { AppError } from './errors.ts';

const ADMIN = 'admin-token-0123456789';
const READER = 'reader-token-0123456789';
const SERVICE = 'service-token-0123456789';
const settings: AuthSettings = { adminToken: ADMIN, readTokens: [READER], serviceTokens: [SERVICE], openReads: false };

function refusal(action: () => unknown): AppError {
  try {
    action();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the request to be refused');
}

describe('bearer auth', () => {
  const auth = createAuthenticator(settings);

  it('lets the admin token read and write', () => {
    expect(auth.authorize(`Bearer ${ADMIN}`, 'read')).toEqual({ principal: 'admin', canWrite: true });
    expect(auth.authorize(`Bearer ${ADMIN}`, 'write')).toEqual({ principal: 'admin', canWrite: true });
  });

  it('lets a read token read', () => {
    expect(auth.authorize(`Bearer ${READER}`, 'read')).toEqual({ principal: 'reader', canWrite: false });
  });

  it('refuses a read token on a write route with 403 insufficient_scope', () => {
    const error = refusal(() => auth.authorize(`Bearer ${READER}`, 'write'));
    expect(error.status).toBe(403);
    expect(error.headers['WWW-Authenticate']).toContain('insufficient_scope');
  });

  it('refuses a missing token with 401 and a Bearer challenge', () => {
    for (const scope of ['read', 'write'] as const) {
      const error = refusal(() => auth.authorize(undefined, scope));
      expect(error.status).toBe(401);
      expect(error.headers['WWW-Authenticate']).toMatch(/^Bearer /);
    }
  });

  it('refuses an unknown token with 401 invalid_token, without echoing it', () => {
    const error = refusal(() => auth.authorize('Bearer not-a-real-token-123456', 'read'));
    expect(error.status).toBe(401);
    expect(error.headers['WWW-Authenticate']).toContain('invalid_token');
    expect(error.message).not.toContain('not-a-real-token');
  });

  it('refuses a token that is a prefix of a real one', () => {
    expect(refusal(() => auth.authorize(`Bearer ${ADMIN.slice(0, -1)}`, 'write')).status).toBe(401);
  });

  it('refuses another scheme with 401 invalid_request', () => {
    const error = refusal(() => auth.authorize(`Basic ${Buffer.from('admin:secret').toString('base64')}`, 'read'));
    expect(error.status).toBe(401);
    expect(error.headers['WWW-Authenticate']).toContain('invalid_request');
  });

  it('lets anyone call a public route, whatever they send', () => {
    expect(auth.authorize(undefined, 'public').principal).toBe('anonymous');
    expect(auth.authorize('Bearer wrong-token-000000000', 'public').principal).toBe('anonymous');
    expect(auth.authorize(`Bearer ${ADMIN}`, 'public').principal).toBe('admin');
  });

  describe('service routes', () => {
    it('admit a service token, and the admin token', () => {
      expect(auth.authorize(`Bearer ${SERVICE}`, 'service')).toEqual({ principal: 'service', canWrite: false });
      expect(auth.authorize(`Bearer ${ADMIN}`, 'service')).toEqual({ principal: 'admin', canWrite: true });
    });

    it('refuse a read token with 403 insufficient_scope', () => {
      const error = refusal(() => auth.authorize(`Bearer ${READER}`, 'service'));
      expect(error.status).toBe(403);
      expect(error.headers['WWW-Authenticate']).toContain('insufficient_scope');
    });

    it('refuse a missing or unknown token with 401, even with open reads', () => {
      const open = createAuthenticator({ ...settings, openReads: true });
      expect(refusal(() => open.authorize(undefined, 'service')).status).toBe(401);
      expect(refusal(() => open.authorize('Bearer not-a-real-token-123456', 'service')).headers['WWW-Authenticate']).toContain('invalid_token');
    });

    it('let a service token read but not write', () => {
      expect(auth.authorize(`Bearer ${SERVICE}`, 'read').principal).toBe('service');
      expect(refusal(() => auth.authorize(`Bearer ${SERVICE}`, 'write')).status).toBe(403);
    });
  });

  describe('with open reads', () => {
    const open = createAuthenticator({ ...settings, openReads: true });

    it('lets a read route be called without a token', () => {
      expect(open.authorize(undefined, 'read')).toEqual({ principal: 'anonymous', canWrite: false });
    });

    it('still refuses a bad token, and writes without a token', () => {
      expect(refusal(() => open.authorize('Bearer wrong-token-000000000', 'read')).status).toBe(401);
      expect(refusal(() => open.authorize(undefined, 'write')).status).toBe(401);
    });
  });

  describe('without an admin token', () => {
    const readOnly = createAuthenticator({ readTokens: [READER], openReads: true });

    it('refuses every write with 401 saying writes are disabled', () => {
      const error = refusal(() => readOnly.authorize(`Bearer ${READER}`, 'write'));
      expect(error.status).toBe(401);
      expect(error.message).toMatch(/no admin token is configured/);
      expect(refusal(() => readOnly.authorize(undefined, 'write')).status).toBe(401);
    });
  });

  it('says so when a read needs a token and none is configured', () => {
    const none = createAuthenticator({ readTokens: [], openReads: false });
    expect(refusal(() => none.authorize(undefined, 'read')).message).toMatch(/none is configured/);
  });
});

describe('bearerToken', () => {
  it('takes the token of a Bearer header, whatever the case of the scheme', () => {
    expect(bearerToken('Bearer abc.def-123')).toBe('abc.def-123');
    expect(bearerToken('bearer abc')).toBe('abc');
  });

  it('has no token when there is no header', () => {
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('')).toBeUndefined();
  });

  it('rejects a header with two tokens', () => {
    expect(() => bearerToken('Bearer a b')).toThrow(AppError);
  });
});
