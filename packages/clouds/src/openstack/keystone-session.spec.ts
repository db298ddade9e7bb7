import { describe, expect, it } from 'vitest';
import { identityBase, renewalTime } from './keystone-session.ts';

describe('renewalTime', () => {
  it('renews an hour-long token a minute before it expires, and a short one a tenth of its life before', () => {
    expect(renewalTime(0, 3_600_000)).toBe(3_540_000);
    expect(renewalTime(1_000, 300_000)).toBe(271_000);
  });
});

describe('identityBase', () => {
  it('adds v3 to an auth URL given without its version, and drops trailing slashes', () => {
    expect(identityBase('http://keystone:5000')).toBe('http://keystone:5000/v3');
    expect(identityBase('http://host/identity/v3/')).toBe('http://host/identity/v3');
  });
});
