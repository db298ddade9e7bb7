/**
 * Reading a paged list to its end, for every provider: `page(token)` fetches one page (one
 * request) and says the token of the next. A token the cloud gave before means the walk would
 * never end; that is an `unavailable` error rather than a list cut short, since a poller would
 * take the VMs missing from a short list for gone.
 */
import { CloudError } from './cloud-error.ts';

export async function readAllPages<T>(cloud: string, operation: string, page: (token: string | undefined) => Promise<{ items: T[]; next: string | undefined }>): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  for (;;) {
    const result = await page(token);
    items.push(...result.items);
    const next = result.next === '' ? undefined : result.next;
    if (next === undefined) return items;
    if (seen.has(next)) throw new CloudError('unavailable', cloud, operation, 'the cloud answered a page token it had already given: paging would not end');
    seen.add(next);
    token = next;
  }
}
