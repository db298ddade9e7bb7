import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { foldTarget } from './incident.repository.ts';
import type { IncidentRow } from './tables.ts';

const deployableId = randomUUID();
const db = randomUUID();
const mysqld = randomUUID();
const httpd = randomUUID();
const web = randomUUID();

function openIncident(level: IncidentRow['level'], assemblyId: string | null = null, resourceId: string | null = null): IncidentRow {
  const now = new Date();
  return {
    id: randomUUID(),
    deployable_id: deployableId,
    assembly_id: assemblyId,
    resource_id: resourceId,
    level,
    status: 'open',
    outcome: null,
    trigger: 'assembly.failed',
    trigger_event_id: null,
    failure: { type: 'assembly.failed', at: now.toISOString() },
    observations: 1,
    not_before: null,
    last_error: null,
    errors: 0,
    opened_at: now,
    updated_at: now,
    closed_at: null,
  };
}

describe('which open incident a failure folds into', () => {
  const dbIncident = openIncident('assembly', db);
  const httpdIncident = openIncident('resource', web, httpd);

  it('folds everything into an open deployable-level incident', () => {
    const whole = openIncident('deployable');
    const open = [dbIncident, whole, httpdIncident];
    expect(foldTarget(open, { level: 'assembly', deployableId, assemblyId: web })).toBe(whole);
    expect(foldTarget(open, { level: 'resource', deployableId, assemblyId: web, resourceId: httpd })).toBe(whole);
  });

  it("folds an assembly's failure into its own incident only", () => {
    expect(foldTarget([httpdIncident, dbIncident], { level: 'assembly', deployableId, assemblyId: db })).toBe(dbIncident);
    expect(foldTarget([httpdIncident], { level: 'assembly', deployableId, assemblyId: web })).toBeUndefined();
  });

  it("folds a resource's failure into its own incident, else into its assembly's", () => {
    expect(foldTarget([dbIncident, httpdIncident], { level: 'resource', deployableId, assemblyId: web, resourceId: httpd })).toBe(httpdIncident);
    expect(foldTarget([dbIncident, httpdIncident], { level: 'resource', deployableId, assemblyId: db, resourceId: mysqld })).toBe(dbIncident);
    expect(foldTarget([httpdIncident], { level: 'resource', deployableId, assemblyId: db, resourceId: mysqld })).toBeUndefined();
  });
});
