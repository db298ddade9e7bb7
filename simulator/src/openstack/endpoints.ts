/**
 * Where each OpenStack service lives. Like DevStack, everything is on one port: the first
 * OpenStack cloud at `/compute`, `/image` and `/networking`, any further region under
 * `/regions/<region>/`; one Keystone at `/identity` lists them all in its catalog.
 */
import type { Request } from 'express';
import type { Cloud } from '../cloud/cloud.ts';

/** An OpenStack cloud and the path prefix its services are mounted under ('' for the first). */
export interface OpenStackRegion {
  cloud: Cloud;
  basePath: string;
}

/** Lays out OpenStack clouds: the first at the root, the others under `/regions/<region>`. */
export function layOutRegions(clouds: readonly Cloud[]): OpenStackRegion[] {
  return clouds.map((cloud, index) => ({ cloud, basePath: index === 0 ? '' : `/regions/${encodeURIComponent(cloud.region)}` }));
}

/** The scheme and authority the client used, so catalog and links point back the way it came. */
export function origin(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? '127.0.0.1'}`;
}

export const identityPath = '/identity';

export function computeUrl(req: Request, region: OpenStackRegion): string {
  return `${origin(req)}${region.basePath}/compute/v2.1`;
}

export function imageUrl(req: Request, region: OpenStackRegion): string {
  return `${origin(req)}${region.basePath}/image`;
}

export function networkUrl(req: Request, region: OpenStackRegion): string {
  return `${origin(req)}${region.basePath}/networking`;
}

/** Nova/Keystone/Glance timestamp without fractions: `2025-01-01T00:00:00Z`. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Timestamp with microseconds, as Keystone writes `expires_at`: `2025-01-01T00:00:00.000000Z`. */
export function isoMicros(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
