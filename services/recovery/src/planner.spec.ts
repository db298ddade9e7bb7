import { randomUUID } from 'node:crypto';
import { validateManifest, type Manifest, type ManifestInput } from '@defib/contracts';
import { describe, expect, it } from 'vitest';
import { plan, specHash, specOf, type DeployableSnapshot } from './planner.ts';
import type { AssemblyPhase, AssemblyRow, DeployableRow, IncidentRow, StepRow } from './tables.ts';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs);

function manifestOf(input: Partial<ManifestInput> = {}): Manifest {
  const result = validateManifest({
    apiVersion: 'defib/v1',
    kind: 'Deployable',
    name: 'shop',
    cloud: 'sim',
    assemblies: [
      { name: 'db', image: 'fedora', flavor: 'small' },
      { name: 'web', image: 'fedora', flavor: 'small', dependsOn: ['db'] },
    ],
    ...input,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.manifest;
}

function world(manifest: Manifest, phases: Record<string, AssemblyPhase>, change: { desired?: DeployableRow['desired']; maintenance?: boolean; state?: DeployableRow['state'] } = {}) {
  const deployable: DeployableRow = {
    id: randomUUID(),
    name: manifest.name,
    cloud: manifest.cloud,
    version: 1,
    manifest,
    assembly_ids: {},
    resource_ids: {},
    desired: change.desired ?? 'running',
    state: change.state ?? 'starting',
    state_changed_at: at(-60_000),
    maintenance: change.maintenance ?? false,
    due_at: at(0),
    errors: 0,
    last_error: null,
    updated_at: at(-60_000),
  };
  const assemblies: AssemblyRow[] = Object.entries(phases).map(([name, phase]) => {
    const spec = specOf(manifest, name);
    const live = phase !== 'absent' && phase !== 'stopped' && phase !== 'launching';
    return {
      id: randomUUID(),
      deployable_id: deployable.id,
      name,
      phase,
      instance_id: live ? `vm-${name}` : null,
      boot_id: phase === 'running' ? 'boot-1' : null,
      addresses: [],
      launched_version: live ? 1 : null,
      spec_hash: live && spec !== undefined ? specHash(spec) : null,
      maintenance: false,
      updated_at: at(-30_000),
    };
  });
  return { deployable, assemblies };
}

function snapshotOf(parts: ReturnType<typeof world>, extra: Partial<DeployableSnapshot> = {}): DeployableSnapshot {
  return { ...parts, incidents: [], unfinished: [], failedLaunches: [], reconfigurations: [], ...extra };
}

function incidentOn(assembly: AssemblyRow, change: Partial<IncidentRow> = {}): IncidentRow {
  return {
    id: randomUUID(),
    deployable_id: assembly.deployable_id,
    assembly_id: assembly.id,
    resource_id: null,
    level: 'assembly',
    status: 'open',
    outcome: null,
    trigger: 'assembly.failed',
    trigger_event_id: null,
    failure: { type: 'assembly.failed', kind: 'crashed', at: at(-1_000).toISOString() },
    observations: 1,
    not_before: null,
    last_error: null,
    errors: 0,
    opened_at: at(-1_000),
    updated_at: at(-1_000),
    closed_at: null,
    ...change,
  };
}

function stepOn(assembly: AssemblyRow, change: Partial<StepRow> = {}): StepRow {
  return {
    id: randomUUID(),
    deployable_id: assembly.deployable_id,
    incident_id: null,
    assembly_id: assembly.id,
    resource_id: null,
    kind: 'launch',
    attempt: 1,
    action: 'launch',
    action_id: randomUUID(),
    command_id: null,
    state: 'intended',
    reason: null,
    error: null,
    detail: {},
    intended_at: at(-500),
    acted_at: null,
    finished_at: null,
    ...change,
  };
}

const options = { retryDelay: (attempt: number) => 1_000 * 2 ** (attempt - 1) };
const kinds = (tasks: ReturnType<typeof plan>['tasks']) => tasks.map((task) => `${task.kind}${'assembly' in task ? `:${task.assembly.name}` : ''}`);

describe('planning a deployable', () => {
  it('launches the first wave only: a dependent waits until what it depends on runs', () => {
    const result = plan(snapshotOf(world(manifestOf(), { db: 'absent', web: 'absent' })), NOW, new Set(), options);
    expect(kinds(result.tasks)).toEqual(['launch:db']);
    expect(result.state).toBe('starting');
  });

  it('launches the next wave once the first runs, and calls the deployable running when all run', () => {
    expect(kinds(plan(snapshotOf(world(manifestOf(), { db: 'running', web: 'absent' })), NOW, new Set(), options).tasks)).toEqual(['launch:web']);
    const running = plan(snapshotOf(world(manifestOf(), { db: 'running', web: 'running' })), NOW, new Set(), options);
    expect(running.tasks).toEqual([]);
    expect(running.state).toBe('running');
    expect(running.idle).toBe(true);
  });

  it('resumes an unfinished step before planning anything new for its assembly', () => {
    const parts = world(manifestOf(), { db: 'launching', web: 'absent' });
    const db = parts.assemblies[0] as AssemblyRow;
    const unfinished = stepOn(db);
    const result = plan(snapshotOf(parts, { unfinished: [unfinished] }), NOW, new Set(), options);
    expect(result.tasks).toEqual([{ kind: 'resume', step: unfinished }]);
    expect(result.idle).toBe(false);
  });

  it('never starts a second task for an assembly that has one running', () => {
    const parts = world(manifestOf(), { db: 'absent', web: 'absent' });
    const db = parts.assemblies[0] as AssemblyRow;
    expect(plan(snapshotOf(parts), NOW, new Set([db.id]), options).tasks).toEqual([]);
  });

  it('backs a failed launch off, longer after each failure', () => {
    const parts = world(manifestOf(), { db: 'absent', web: 'absent' });
    const db = parts.assemblies[0] as AssemblyRow;
    const failed = [stepOn(db, { state: 'failed', finished_at: at(-1_500) }), stepOn(db, { state: 'failed', finished_at: at(-4_000) })];
    const result = plan(snapshotOf(parts, { failedLaunches: failed }), NOW, new Set(), options);
    expect(result.tasks).toEqual([]);
    expect(result.wakeAt).toBe(NOW - 1_500 + 2_000);
  });

  it('recovers an open incident and calls the deployable recovering', () => {
    const parts = world(manifestOf(), { db: 'failed', web: 'running' }, { state: 'running' });
    const incident = incidentOn(parts.assemblies[0] as AssemblyRow);
    const result = plan(snapshotOf(parts, { incidents: [incident] }), NOW, new Set(), options);
    expect(result.tasks).toEqual([{ kind: 'recover', incident }]);
    expect(result.state).toBe('recovering');
  });

  it('records but does not act on an incident while the deployable is in maintenance', () => {
    const parts = world(manifestOf(), { db: 'failed', web: 'running' }, { state: 'running', maintenance: true });
    const result = plan(snapshotOf(parts, { incidents: [incidentOn(parts.assemblies[0] as AssemblyRow)] }), NOW, new Set(), options);
    expect(result.tasks).toEqual([]);
    expect(result.state).toBe('degraded');
  });

  it('lets a resource incident wait while its assembly has an incident of its own', () => {
    const parts = world(manifestOf(), { db: 'failed', web: 'running' }, { state: 'running' });
    const db = parts.assemblies[0] as AssemblyRow;
    const vm = incidentOn(db, { opened_at: at(-500) });
    const resource = incidentOn(db, { level: 'resource', resource_id: randomUUID(), opened_at: at(-2_000) });
    expect(plan(snapshotOf(parts, { incidents: [resource, vm] }), NOW, new Set(), options).tasks).toEqual([{ kind: 'recover', incident: vm }]);
  });

  it('waits for an errored incident’s backoff to end', () => {
    const parts = world(manifestOf(), { db: 'failed', web: 'running' }, { state: 'running' });
    const incident = incidentOn(parts.assemblies[0] as AssemblyRow, { status: 'errored', not_before: at(5_000) });
    const result = plan(snapshotOf(parts, { incidents: [incident] }), NOW, new Set(), options);
    expect(result.tasks).toEqual([]);
    expect(result.wakeAt).toBe(NOW + 5_000);
  });

  it('stops in reverse dependency order and cancels open incidents when the deployable should not run', () => {
    const parts = world(manifestOf(), { db: 'running', web: 'failed' }, { desired: 'stopped', state: 'running' });
    const incident = incidentOn(parts.assemblies[1] as AssemblyRow);
    const result = plan(snapshotOf(parts, { incidents: [incident] }), NOW, new Set(), options);
    expect(kinds(result.tasks)).toEqual(['stop:web']);
    expect(result.cancel).toEqual([incident]);
    expect(result.state).toBe('stopping');
    expect(plan(snapshotOf(world(manifestOf(), { db: 'stopped', web: 'stopped' }, { desired: 'stopped' })), NOW, new Set(), options).state).toBe('stopped');
  });

  it('rolls out a changed assembly and leaves unchanged ones alone', () => {
    const before = manifestOf();
    const parts = world(before, { db: 'running', web: 'running' }, { state: 'running' });
    const after = manifestOf({ assemblies: [{ name: 'db', image: 'fedora', flavor: 'small' }, { name: 'web', image: 'fedora', flavor: 'large', dependsOn: ['db'] }] });
    const result = plan(snapshotOf({ ...parts, deployable: { ...parts.deployable, manifest: after, version: 2 } }), NOW, new Set(), options);
    expect(kinds(result.tasks)).toEqual(['replace:web']);
  });

  it('stops and forgets an assembly a new manifest version dropped', () => {
    const parts = world(manifestOf(), { db: 'running', web: 'running' }, { state: 'running' });
    const onlyDb = manifestOf({ assemblies: [{ name: 'db', image: 'fedora', flavor: 'small' }] });
    const result = plan(snapshotOf({ ...parts, deployable: { ...parts.deployable, manifest: onlyDb, version: 2 } }), NOW, new Set(), options);
    expect(result.tasks).toMatchObject([{ kind: 'stop', assembly: { name: 'web' }, remove: true }]);
  });

  it('concludes a deployable restart once every assembly runs again', () => {
    const parts = world(manifestOf(), { db: 'running', web: 'running' }, { state: 'recovering' });
    const incident = incidentOn(parts.assemblies[0] as AssemblyRow);
    const restart = stepOn(parts.assemblies[0] as AssemblyRow, { kind: 'restart-deployable', incident_id: incident.id, state: 'verifying', detail: { stage: 'starting' } });
    const result = plan(snapshotOf(parts, { incidents: [incident], unfinished: [restart] }), NOW, new Set(), options);
    expect(result.tasks).toEqual([{ kind: 'conclude-restart', step: restart, outcome: 'succeeded' }]);
  });
});
