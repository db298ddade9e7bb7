import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@defib/platform';
import { AddressPool, AddressPoolExhaustedError } from './address-pool.ts';

describe('address pool', () => {
  it('hands out every usable address of a small block once, never network, gateway or broadcast', () => {
    const pool = new AddressPool('192.168.1.0/29', new SeededRandom('pool'));
    const addresses = Array.from({ length: 5 }, () => pool.allocate());
    expect(new Set(addresses)).toEqual(new Set(['192.168.1.2', '192.168.1.3', '192.168.1.4', '192.168.1.5', '192.168.1.6']));
    expect(() => pool.allocate()).toThrow(AddressPoolExhaustedError);
  });

  it('reuses released addresses', () => {
    const pool = new AddressPool('10.0.0.0/30', new SeededRandom('pool'));
    const only = pool.allocate();
    expect(pool.freeCount).toBe(0);
    pool.release(only);
    expect(pool.allocate()).toBe(only);
  });

  it('draws the same addresses for the same seed', () => {
    const draw = (): string[] => {
      const pool = new AddressPool('10.0.0.0/16', new SeededRandom('same'));
      return [pool.allocate(), pool.allocate(), pool.allocate()];
    };
    expect(draw()).toEqual(draw());
  });
});
