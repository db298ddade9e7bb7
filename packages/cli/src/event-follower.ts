/**
 * Reads the notifier's event log (`GET /v1/events`) page by page and, when following, asks again
 * every interval from the resume cursor the notifier gives. The notifier may list an event twice
 * around the resume point (never skip one), so events already shown are recognised by id.
 */
import type { ServiceClient } from './service-client.ts';
import type { DomainEventView } from './views.ts';

interface EventPage {
  items: DomainEventView[];
  nextCursor: string | null;
  resumeCursor: string | null;
}

export interface EventQuery {
  type?: string | undefined;
  deployable?: string | undefined;
  since?: string | undefined;
}

export interface FollowOptions {
  follow: boolean;
  intervalMs: number;
  onEvent: (event: DomainEventView) => void;
  /** Waits between polls; a timer by default (tests may end the loop through it). */
  pause?: (ms: number) => Promise<void>;
}

/** How many ids are remembered to recognise repeats: far more than a resume window holds. */
const REMEMBERED = 10_000;

export async function readEvents(notifier: ServiceClient, query: EventQuery, options: FollowOptions): Promise<void> {
  const pause = options.pause ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const seen = new Set<string>();
  let resume: string | undefined;
  for (;;) {
    let cursor = resume;
    do {
      const { body } = await notifier.request<EventPage>('GET', '/v1/events', { query: { ...query, limit: 200, cursor } });
      for (const event of body.items) {
        if (seen.has(event.id)) continue;
        seen.add(event.id);
        if (seen.size > REMEMBERED) seen.delete(seen.values().next().value as string);
        options.onEvent(event);
      }
      if (body.resumeCursor !== null) resume = body.resumeCursor;
      cursor = body.nextCursor ?? undefined;
    } while (cursor !== undefined);
    if (!options.follow) return;
    await pause(options.intervalMs);
  }
}
