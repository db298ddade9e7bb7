/**
 * Compute API microversions: read from `OpenStack-API-Version: compute X.Y` or the legacy
 * `X-OpenStack-Nova-API-Version`, default 2.1, `latest` = the maximum, anything outside
 * [min, max] refused with 406 as Nova does. The maximum is Zed's (2.93), the release the
 * simulator's fidelity fixtures come from.
 */
import { NovaFault } from './nova-errors.ts';

/** A microversion as major and minor numbers. */
export interface Microversion {
  readonly major: number;
  readonly minor: number;
}

export const minMicroversion: Microversion = { major: 2, minor: 1 };
export const maxMicroversion: Microversion = { major: 2, minor: 93 };

export function formatMicroversion(version: Microversion): string {
  return `${version.major}.${version.minor}`;
}

/** A well-formed microversion outside the supported range: 406, and Nova echoes it in the version headers. */
export class UnsupportedMicroversionError extends NovaFault {
  readonly requested: string;
  constructor(requested: string) {
    super(406, `Version ${requested} is not supported by the API. Minimum is ${formatMicroversion(minMicroversion)} and maximum is ${formatMicroversion(maxMicroversion)}.`);
    this.requested = requested;
  }
}

/** Whether `version` is at least `major.minor`. */
export function atLeast(version: Microversion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

/** The requested compute microversion, from the two headers Nova reads (the new one wins). */
export function negotiateMicroversion(headers: { openStackApiVersion?: string | undefined; novaApiVersion?: string | undefined }): Microversion {
  let requested: string | undefined;
  if (headers.openStackApiVersion !== undefined) {
    for (const entry of headers.openStackApiVersion.split(',')) {
      const [service, value] = entry.trim().split(/\s+/);
      if (service?.toLowerCase() === 'compute' && value !== undefined) requested = value;
    }
  }
  requested ??= headers.novaApiVersion?.trim();
  if (requested === undefined || requested === '') return minMicroversion;
  if (requested.toLowerCase() === 'latest') return maxMicroversion;
  const match = /^([1-9]\d*)\.(0|[1-9]\d*)$/.exec(requested);
  if (!match) throw new NovaFault(400, `API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`);
  const version = { major: Number(match[1]), minor: Number(match[2]) };
  if (!atLeast(version, minMicroversion.major, minMicroversion.minor) || atLeast(version, maxMicroversion.major, maxMicroversion.minor + 1)) {
    throw new UnsupportedMicroversionError(requested);
  }
  return version;
}
