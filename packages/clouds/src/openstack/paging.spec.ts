import { describe, expect, it } from 'vitest';
import { glanceNextMarker, novaNextMarker } from './paging.ts';

describe('paging', () => {
  it("takes the marker from Nova's next link and Glance's next", () => {
    expect(novaNextMarker([{ rel: 'next', href: 'http://inside:8774/v2.1/servers/detail?limit=2&marker=abc' }])).toBe('abc');
    expect(novaNextMarker(undefined)).toBeUndefined();
    expect(glanceNextMarker('/v2/images?marker=def&limit=25')).toBe('def');
  });
});
