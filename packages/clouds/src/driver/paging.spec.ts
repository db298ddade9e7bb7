import { describe, expect, it } from 'vitest';
import { cloudFailure } from '../testing.ts';
import { readAllPages } from './paging.ts';

describe('reading a paged list', () => {
  it('reads page after page until the cloud gives no next token', async () => {
    const pages: Record<string, { items: number[]; next: string | undefined }> = { start: { items: [1, 2], next: 'b' }, b: { items: [3, 4], next: 'c' }, c: { items: [5], next: undefined } };
    const asked: (string | undefined)[] = [];
    const items = await readAllPages('sim-a', 'list', (token) => {
      asked.push(token);
      return Promise.resolve(pages[token ?? 'start'] ?? { items: [], next: undefined });
    });
    expect(items).toEqual([1, 2, 3, 4, 5]);
    expect(asked).toEqual([undefined, 'b', 'c']);
  });

  it("takes EC2's empty token as the end", async () => {
    expect(await readAllPages('sim-a', 'DescribeInstances', () => Promise.resolve({ items: ['i-1'], next: '' }))).toEqual(['i-1']);
  });

  it('fails, rather than cutting the list short or looping for ever, on a token the cloud gave before', async () => {
    let calls = 0;
    const error = await cloudFailure(
      readAllPages('sim-a', 'list', () => {
        calls++;
        return Promise.resolve({ items: [calls], next: 'same' });
      }),
    );
    expect(calls).toBe(2);
    expect(error).toMatchObject({ kind: 'unavailable', cloud: 'sim-a', operation: 'list' });
    expect(error.message).toBe('cloud sim-a: list failed: the cloud answered a page token it had already given: paging would not end');
  });
});
