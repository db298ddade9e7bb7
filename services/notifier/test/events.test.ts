import { randomUUID } from 'node:crypto';
import { createDomainEvent, type DomainEvent } from '@defib/contracts';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/index.ts';
import { deliveryRepository } from '../src/delivery.repository.ts';
import { addressChanged, assemblyFailed, READ_TOKEN, recoveryStarted, startNotifier, world, type NotifierHarness, type ProblemBody } from './notifier-harness.ts';

interface EventPage {
  items: DomainEvent[];
  nextCursor: string | null;
  resumeCursor: string | null;
}

describe('the event log', () => {
  let notifier: NotifierHarness;
  const published: DomainEvent[] = [];

  async function publish(event: DomainEvent): Promise<DomainEvent> {
    await notifier.publish(event);
    published.push(event);
    return event;
  }

  const page = (query = '') => notifier.json<EventPage>('GET', `/v1/events${query}`, 200, { token: READ_TOKEN });

  beforeAll(async () => {
    notifier = await startNotifier();
    // No subscription matches any of these: the log keeps them all the same.
    await publish(assemblyFailed());
    await publish(addressChanged());
    await publish(recoveryStarted());
    await publish(assemblyFailed(world.shop));
    await publish(createDomainEvent('cloud.registered', { subject: { cloud: 'sim-openstack' }, data: { provider: 'openstack', region: 'RegionOne', endpoint: 'http://127.0.0.1:7200/identity/v3', created: true }, correlationId: randomUUID() }));
    await waitFor(async () => ((await page('?limit=200')).items.length === published.length ? true : undefined), { what: 'every event in the log' });
  });

  afterAll(async () => {
    await notifier?.close();
  });

  it('keeps every consumed event, oldest first, as published', async () => {
    const { items } = await page();
    expect(items.map((event) => event.id).sort()).toEqual(published.map((event) => event.id).sort());
    expect(items.find((event) => event.id === published[1]?.id)).toEqual(published[1]);
  });

  it('keeps an event delivered twice once', async () => {
    const first = published[0];
    if (first === undefined) throw new Error('nothing published');
    const marker = await publish(recoveryStarted());
    await notifier.publish(first);
    await waitFor(async () => ((await page('?limit=200')).items.some((event) => event.id === marker.id) ? true : undefined), { what: 'the marker event' });
    const { items } = await page('?limit=200');
    expect(items.filter((event) => event.id === first.id)).toHaveLength(1);
  });

  it('filters by type, type pattern, deployable and time', async () => {
    const failed = await page('?type=assembly.failed');
    expect(failed.items.map((event) => event.type)).toEqual(['assembly.failed', 'assembly.failed']);
    const patterned = await page(`?type=${encodeURIComponent('assembly.*,cloud.registered')}`);
    expect(new Set(patterned.items.map((event) => event.type))).toEqual(new Set(['assembly.failed', 'assembly.address-changed', 'cloud.registered']));
    const shop = await page(`?deployable=${world.shop.deployableId}`);
    expect(shop.items.map((event) => event.id)).toEqual([published[3]?.id]);
    expect((await page(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).items).toEqual([]);
  });

  it('pages with the shared cursor and tells a follower where to resume', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const current: EventPage = await page(`?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      seen.push(...current.items.map((event) => event.id));
      cursor = current.nextCursor;
      pages += 1;
    } while (cursor !== null);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual((await page('?limit=200')).items.map((event) => event.id));
    // Everything was received just now: not settled yet, so a follower asks again from where it began.
    expect((await page()).resumeCursor).toBeNull();
  });

  it('resumes a follower after the settled events, with nothing skipped and nothing repeated', async () => {
    const { db } = notifier.service.kernel.database;
    await sql`update events set received_at = received_at - interval '1 minute'`.execute(db);
    const settled = await page('?limit=200');
    expect(settled.resumeCursor).not.toBeNull();
    const later = await publish(recoveryStarted());
    const resumed = await waitFor(async () => {
      const next = await page(`?cursor=${settled.resumeCursor ?? ''}`);
      return next.items.length > 0 ? next : undefined;
    }, { what: 'the event received after resuming' });
    expect(resumed.items.map((event) => event.id)).toEqual([later.id]);
  });

  it('names every bad filter in one 400', async () => {
    const response = await notifier.request('GET', '/v1/events?type=assembly.exploded,nope.*&deployable=wordpress&cursor=garbage', { token: READ_TOKEN });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as ProblemBody;
    expect(problem.issues?.map((issue) => issue.path).sort()).toEqual(['query.deployable', 'query.type', 'query.type']);
    expect((await notifier.request('GET', '/v1/events', { token: null })).status).toBe(401);
  });

  it('prunes events past retention that no delivery still carries', async () => {
    const { db } = notifier.service.kernel.database;
    await deliveryRepository.prune(db, 0);
    expect((await page()).items).toEqual([]);
  });
});
