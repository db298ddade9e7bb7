import { describe, expect, it } from 'vitest';
import { addressForField, addressSchema, canonicalAddress, sameAddresses, type Address } from './address.ts';

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

  it("ignores the provider's network label, which an agent does not know", () => {
    expect(sameAddresses([{ ...fixed, network: 'private' }, floating], [fixed, { ...floating, network: 'public' }])).toBe(true);
  });

  it('ignores repeats and the spelling of an IPv6 address', () => {
    const v6: Address = { address: '2001:db8::5', type: 'fixed', version: 6 };
    expect(sameAddresses([fixed, fixed, v6], [{ ...v6, address: '2001:0DB8:0:0::0005' }, fixed])).toBe(true);
  });

  it('sees an address that changed kind', () => {
    expect(sameAddresses([fixed], [{ ...fixed, type: 'floating' }])).toBe(false);
  });
});

describe('canonicalAddress', () => {
  it('compresses and lower-cases IPv6 and leaves IPv4 alone', () => {
    expect(canonicalAddress('2001:0DB8:0000::0005')).toBe('2001:db8::5');
    expect(canonicalAddress('10.0.0.5')).toBe('10.0.0.5');
  });
});

describe('addressForField', () => {
  const fixed: Address = { address: '10.0.0.5', type: 'fixed', network: 'private', version: 4 };
  const fixedV6: Address = { address: '2001:db8::5', type: 'fixed', version: 6 };
  const floating: Address = { address: '203.0.113.7', type: 'floating', version: 4 };

  it('gives address the floating address when there is one, else the fixed one', () => {
    expect(addressForField([fixed, floating], 'address')).toBe('203.0.113.7');
    expect(addressForField([fixed], 'address')).toBe('10.0.0.5');
  });

  it('gives publicAddress the floating address and privateAddress the fixed one', () => {
    expect(addressForField([floating, fixed], 'publicAddress')).toBe('203.0.113.7');
    expect(addressForField([floating, fixed], 'privateAddress')).toBe('10.0.0.5');
  });

  it('prefers IPv4, whatever order the addresses come in', () => {
    expect(addressForField([fixedV6, fixed], 'privateAddress')).toBe('10.0.0.5');
    expect(addressForField([fixed, fixedV6], 'privateAddress')).toBe('10.0.0.5');
    expect(addressForField([fixedV6], 'address')).toBe('2001:db8::5');
  });

  it('has nothing to give when the assembly has no address of that kind', () => {
    expect(addressForField([fixed], 'publicAddress')).toBeUndefined();
    expect(addressForField([], 'address')).toBeUndefined();
  });
});
