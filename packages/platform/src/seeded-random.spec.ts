import { describe, expect, it } from 'vitest';
import { SeededRandom } from './seeded-random.ts';

describe('seeded random', () => {
  it('repeats the same stream for the same seed and differs for another', () => {
    const draw = (seed: string): number[] => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 5 }, () => random.next());
    };
    expect(draw('a')).toEqual(draw('a'));
    expect(draw('a')).not.toEqual(draw('b'));
  });

  it('derives forks from the seed and label, not from how much was drawn', () => {
    const fresh = new SeededRandom('seed');
    const used = new SeededRandom('seed');
    for (let i = 0; i < 10; i++) used.next();
    expect(used.fork('ids').uuid()).toBe(fresh.fork('ids').uuid());
    expect(fresh.fork('ids').uuid()).not.toBe(fresh.fork('addresses').uuid());
  });

  it('makes version 4 UUIDs and hex strings', () => {
    const random = new SeededRandom(1);
    expect(random.uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(random.hex(17)).toMatch(/^[0-9a-f]{17}$/);
  });

  it('keeps jitter within the spread and integers within bounds', () => {
    const random = new SeededRandom('bounds');
    for (let i = 0; i < 1000; i++) {
      const value = random.jitter(100, 0.2);
      expect(value).toBeGreaterThanOrEqual(80);
      expect(value).toBeLessThanOrEqual(120);
      const int = random.int(3, 5);
      expect([3, 4, 5]).toContain(int);
    }
  });
});
