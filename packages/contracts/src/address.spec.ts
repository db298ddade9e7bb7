import { describe, expect, it } from 'vitest';
import { addressSchema, sameAddresses, type Address } from './address.ts';

describe('addressSchema', () => {
  it('accepts IPv4 and IPv6 addresses of the matching version', () => {
    expect(addressSchema.safeParse({ address: '10.0.0.5', type: 'fixed', network: 'private', version: 4 }).success).toBe(true);
    expect(addressSchema.safeParse({ address: '2001:db8::5', type: 'floating', version: 6 }).success).toBe(true);
  });

  it('rejects something that is not an IP address', () => {
    expect(addressSchema.safeParse({ address: 'db.example.com', type: 'fixed', version: 4 }).success).toBe(false);
    expect(addressSchema.safeParse({ address: '10.0.0.256', type: 'fixed', version: 4 }).success).toBe(false);
  });

  it('rejects a version that does not match the address', () => {
    const result = addressSchema.safeParse({ address: '10.0.0.5', type: 'fixed', version: 6 });
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([['version']]);
  });
});

describe('sameAddresses', () => {
  const fixed: Address = { address: '10.0.0.5', type: 'fixed', version: 4 };
  const floating: Address = { address: '203.0.113.7', type: 'floating', version: 4 };

  it('ignores order', () => {
    expect(sameAddresses([fixed, floating], [floating, fixed])).toBe(true);
  });

  it('sees a changed, added or removed address', () => {
    expect(sameAddresses([fixed], [{ ...fixed, address: '10.0.0.6' }])).toBe(false);
    expect(sameAddresses([fixed], [fixed, floating])).toBe(false);
    expect(sameAddresses([fixed, floating], [fixed])).toBe(false);
  });
});
