/**
 * Whether anything has acted on a start request. Recovery acts on `deployable.start-requested`;
 * until it exists, or while it is late, a status that just says "stopped" would leave the user
 * guessing, so the status says plainly that nothing has picked the request up.
 */
import { formatDuration } from '@defib/contracts';
import type { DeployableStatus } from './status-projection.ts';

/** The notice for a start request nothing has acted on for longer than `afterMs`; null otherwise. */
export function unactedStartNotice(status: DeployableStatus, requestedAt: Date, now: Date, afterMs: number): string | null {
  if (status.deployable.desired !== 'running') return null;
  const waitedMs = now.getTime() - requestedAt.getTime();
  if (waitedMs <= afterMs) return null;
  const changes = [status.deployable.changedAt, ...status.assemblies.map((assembly) => assembly.changedAt)];
  if (changes.some((changedAt) => changedAt !== null && Date.parse(changedAt) >= requestedAt.getTime())) return null;
  const waited = formatDuration(Math.floor(waitedMs / 1000) * 1000);
  return `the start was requested ${waited} ago and nothing has acted on it yet: no recovery service has picked up the request (none is running, or it is late)`;
}
