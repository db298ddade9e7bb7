import { describe, expect, it } from 'vitest';
import { unactedStartNotice } from './start-request.ts';
import type { DeployableStatus } from './status-projection.ts';

const requestedAt = new Date('2026-12-01T10:00:00.000Z');
const seconds = (count: number) => new Date(requestedAt.getTime() + count * 1000);

function statusOf(overrides: { desired?: 'running' | 'stopped'; deployableChangedAt?: string | null; assemblyChangedAt?: string | null } = {}): DeployableStatus {
  return {
    deployable: { id: 'd', name: 'wordpress', version: 1, desired: overrides.desired ?? 'running', observed: 'stopped', reason: null, changedAt: overrides.deployableChangedAt ?? null, maintenance: null },
    assemblies: [{ id: 'a', name: 'db', desired: 'running', observed: 'pending', instanceId: null, addresses: [], reason: null, changedAt: overrides.assemblyChangedAt ?? null, maintenance: null, resources: [] }],
    openIncidents: [],
    recentEvents: [],
  };
}

describe('a start request nothing acts on', () => {
  it('says so plainly once it has waited longer than the configured time', () => {
    expect(unactedStartNotice(statusOf(), requestedAt, seconds(95), 30_000)).toBe(
      'the start was requested 95s ago and nothing has acted on it yet: no recovery service has picked up the request (none is running, or it is late)',
    );
  });

  it('says nothing while the request is young', () => {
    expect(unactedStartNotice(statusOf(), requestedAt, seconds(30), 30_000)).toBeNull();
  });

  it('says nothing once the deployable or one of its assemblies changed after the request', () => {
    expect(unactedStartNotice(statusOf({ deployableChangedAt: seconds(2).toISOString() }), requestedAt, seconds(95), 30_000)).toBeNull();
    expect(unactedStartNotice(statusOf({ assemblyChangedAt: seconds(2).toISOString() }), requestedAt, seconds(95), 30_000)).toBeNull();
  });

  it('still speaks when the only changes are older than the request', () => {
    expect(unactedStartNotice(statusOf({ deployableChangedAt: seconds(-60).toISOString() }), requestedAt, seconds(95), 30_000)).not.toBeNull();
  });

  it('says nothing about a deployable that should not run', () => {
    expect(unactedStartNotice(statusOf({ desired: 'stopped' }), requestedAt, seconds(95), 30_000)).toBeNull();
  });
});
