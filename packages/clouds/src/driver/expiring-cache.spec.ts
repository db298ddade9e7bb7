import { ManualClock } from '@defib/platform/testing';
import { describe, expect, it } from 'vitest';
import { ExpiringCache } from './expiring-cache.ts';

describe('ExpiringCache', () => {
  it('forgets an entry once its time-to-live has passed', () => {
    const clock = new ManualClock(0);
    const cache = new ExpiringCache<string>({ clock, ttlMs: 1_000, maxEntries: 10 });
    cache.set('image:fedora-40', 'a1');
    clock.advance(999);
    expect(cache.get('image:fedora-40')).toBe('a1');
    clock.advance(1);
    expect(cache.get('image:fedora-40')).toBeUndefined();
  });

  it('makes room by dropping the oldest entry when full', () => {
    const cache = new ExpiringCache<string>({ clock: new ManualClock(0), ttlMs: 1_000, maxEntries: 2 });
    cache.set('a', '1');
    cache.set('b', '2');
    cache.set('c', '3');
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, '2', '3']);
  });

  it('looks a missing key up once however many callers ask at the same moment, and keeps the answer', async () => {
    const cache = new ExpiringCache<string>({ clock: new ManualClock(0), ttlMs: 1_000, maxEntries: 10 });
    let lookups = 0;
    const lookUp = async () => {
      lookups++;
      await Promise.resolve();
      return 'ami-0123456789abcdef0';
    };
    const answers = await Promise.all(Array.from({ length: 50 }, () => cache.load('fedora-40', lookUp)));
    expect(lookups).toBe(1);
    expect(new Set(answers.map((answer) => answer.value))).toEqual(new Set(['ami-0123456789abcdef0']));
    expect(await cache.load('fedora-40', lookUp)).toEqual({ value: 'ami-0123456789abcdef0', cached: true });
    expect(lookups).toBe(1);
  });

  it('shares a failed lookup with the callers waiting on it but keeps nothing, so the next caller asks again', async () => {
    const cache = new ExpiringCache<string>({ clock: new ManualClock(0), ttlMs: 1_000, maxEntries: 10 });
    let lookups = 0;
    const failing = () => {
      lookups++;
      return Promise.reject(new Error('no image named fedora-41'));
    };
    const results = await Promise.allSettled([cache.load('fedora-41', failing), cache.load('fedora-41', failing)]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(lookups).toBe(1);
    await expect(cache.load('fedora-41', () => Promise.resolve('ami-1'))).resolves.toEqual({ value: 'ami-1', cached: false });
  });
});
