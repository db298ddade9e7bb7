/**
 * OpenStack's paged lists: Nova puts the next page's link in `<things>_links` (rel `next`), Glance
 * in `next`; both carry the page's last id as `marker`. The driver takes only the marker from the
 * link and asks its own catalogue URL again: a link built from the service's idea of its own
 * address (a proxy's inside name, http behind https) is never followed blindly.
 */
import { z } from 'zod';

const linksSchema = z.array(z.looseObject({ rel: z.string().optional(), href: z.string().optional() })).nullish();

function markerOf(href: string | undefined): string | undefined {
  if (href === undefined) return undefined;
  const query = href.includes('?') ? href.slice(href.indexOf('?') + 1) : '';
  return new URLSearchParams(query).get('marker') ?? undefined;
}

/** The marker of the next page a Nova list links to, if there is one. */
export function novaNextMarker(links: unknown): string | undefined {
  const parsed = linksSchema.safeParse(links);
  if (!parsed.success) return undefined;
  return markerOf(parsed.data?.find((link) => link.rel === 'next')?.href);
}

/** The marker of the next page a Glance list links to (`next`), if there is one. */
export function glanceNextMarker(next: unknown): string | undefined {
  return typeof next === 'string' ? markerOf(next) : undefined;
}

