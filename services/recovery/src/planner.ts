/**
 * What to do next for one deployable, from what recovery knows of it: a pure function of a
 * snapshot of its rows and the time. Level-triggered, like a Kubernetes controller: it does not
 * remember what it did last; a replica that resumes a deployable plans from the same rows and
 * reaches the same tasks, and unfinished steps are resumed before anything new starts.
 *
 * Order of concerns: unfinished steps first (resume them); then, while the deployable should run,
 * open incidents (not in maintenance), the launch of absent assemblies in `dependsOn` waves, a
 * roll-out of changed assemblies wave by wave, removed assemblies and pending reconfigurations;
 * while it should not run, incidents are cancelled and assemblies stopped in reverse order.
 * At most one task per assembly runs at a time, and a deployable-wide one runs alone.
 */
import { createHash } from 'node:crypto';
import { launchOrder, type AssemblySpec, type DeployableState, type Manifest } from '@defib/contracts';
import type { AssemblyRow, DeployableRow, IncidentRow, ReconfigurationRow, StepRow } from './tables.ts';

/** What the planner reads: the deployable's rows, as one transaction saw them. */
export interface DeployableSnapshot {
  deployable: DeployableRow;
  assemblies: readonly AssemblyRow[];
  /** Incidents not closed (open or errored). */
  incidents: readonly IncidentRow[];
  /** Steps written as intents and not finished. */
  unfinished: readonly StepRow[];
  /** Launch steps that failed since the assembly last ran, newest first (for the launch backoff). */
  failedLaunches: readonly StepRow[];
  reconfigurations: readonly ReconfigurationRow[];
}

export type Task =
  | { kind: 'resume'; step: StepRow }
  /** `incidentId`: the deployable restart this launch is part of. */
  | { kind: 'launch'; assembly: AssemblyRow; incidentId?: string }
  | { kind: 'replace'; assembly: AssemblyRow }
  | { kind: 'stop'; assembly: AssemblyRow; remove: boolean }
  | { kind: 'recover'; incident: IncidentRow }
  | { kind: 'conclude-restart'; step: StepRow; outcome: 'succeeded' | 'failed'; error?: string }
  | { kind: 'reconfigure'; reconfiguration: ReconfigurationRow };

/** The key a task holds while it runs: its assembly, or the whole deployable. */
export const DEPLOYABLE_WIDE = 'deployable';

export function taskKey(task: Task): string {
  switch (task.kind) {
    case 'resume':
      return task.step.kind === 'restart-deployable' ? DEPLOYABLE_WIDE : (task.step.assembly_id ?? DEPLOYABLE_WIDE);
    case 'launch':
    case 'replace':
    case 'stop':
      return task.assembly.id;
    case 'recover':
      return task.incident.assembly_id ?? DEPLOYABLE_WIDE;
    case 'conclude-restart':
      return DEPLOYABLE_WIDE;
    case 'reconfigure':
      return `reconfigure:${task.reconfiguration.assembly_id}/${task.reconfiguration.resource}`;
  }
}

export interface Plan {
  tasks: Task[];
  /** Incidents to close as `cancelled` (the deployable should no longer run). */
  cancel: IncidentRow[];
  /** The deployable's state as its rows say now. */
  state: DeployableState;
  /** When to plan again though nothing happens (a backoff ends); undefined for never. */
  wakeAt: number | undefined;
  /** Nothing left to do or wait for: the lease may be given up. */
  idle: boolean;
}

export interface PlanOptions {
  /** Wait before the n-th retry of something that failed (1-based). */
  retryDelay: (attempt: number) => number;
}

/** A hash of an assembly's spec: a roll-out replaces an assembly only when it changed. */
export function specHash(spec: AssemblySpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('base64url').slice(0, 22);
}

export function specOf(manifest: Manifest, name: string): AssemblySpec | undefined {
  return manifest.assemblies.find((assembly) => assembly.name === name);
}

const LIVE_PHASES = new Set(['launching', 'booting', 'running', 'failed', 'stopping']);

/** Whether an assembly may have a VM the cloud runs (or is making). */
export function mayHaveVm(assembly: AssemblyRow): boolean {
  return assembly.instance_id !== null || LIVE_PHASES.has(assembly.phase);
}

export function plan(snapshot: DeployableSnapshot, now: number, busy: ReadonlySet<string>, options: PlanOptions): Plan {
  const { deployable, assemblies, incidents, unfinished } = snapshot;
  const tasks: Task[] = [];
  const taken = new Set(busy);
  let wakeAt: number | undefined;
  const wakeNoLaterThan = (at: number) => {
    wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
  };
  const offer = (task: Task): void => {
    const key = taskKey(task);
    if (taken.has(DEPLOYABLE_WIDE) || taken.has(key) || (key === DEPLOYABLE_WIDE && taken.size > 0)) return;
    taken.add(key);
    tasks.push(task);
  };
  const byName = new Map(assemblies.map((assembly) => [assembly.name, assembly]));
  const restart = unfinished.find((step) => step.kind === 'restart-deployable');

  // Unfinished steps first: a restart of the whole deployable that has stopped everything waits for
  // its assemblies to be launched again, and is concluded when they run (or one failed to).
  for (const step of unfinished) {
    if (step.kind === 'restart-deployable' && step.detail.stage === 'starting') continue;
    offer({ kind: 'resume', step });
  }
  // The busy set holds what runs: a restart in flight excludes everything else.
  const manifest = deployable.manifest;
  const waves = launchOrder(manifest);
  const inManifest = new Set(manifest.assemblies.map((assembly) => assembly.name));
  const open = incidents.filter((incident) => incident.status !== 'closed');
  const cancel: IncidentRow[] = [];

  if (deployable.desired === 'running') {
    if (restart !== undefined && restart.detail.stage === 'starting') {
      const launchFailed = snapshot.failedLaunches.some((step) => step.incident_id === restart.incident_id && step.intended_at.getTime() >= restart.intended_at.getTime());
      const current = assemblies.filter((assembly) => inManifest.has(assembly.name));
      if (launchFailed) offer({ kind: 'conclude-restart', step: restart, outcome: 'failed', error: 'an assembly did not come back after the restart' });
      else if (current.every((assembly) => assembly.phase === 'running')) offer({ kind: 'conclude-restart', step: restart, outcome: 'succeeded' });
    }
    // Open incidents, oldest first; an assembly's incident goes before its resources' ones, which wait for it.
    const assemblyIncident = new Set(open.filter((incident) => incident.level === 'assembly').map((incident) => incident.assembly_id));
    const deployableIncident = open.some((incident) => incident.level === 'deployable');
    for (const incident of [...open].sort((a, b) => a.opened_at.getTime() - b.opened_at.getTime())) {
      if (deployable.maintenance || (incident.assembly_id !== null && assemblies.find((assembly) => assembly.id === incident.assembly_id)?.maintenance === true)) continue;
      if (incident.level === 'resource' && (assemblyIncident.has(incident.assembly_id) || deployableIncident)) continue;
      if (incident.level === 'assembly' && deployableIncident) continue;
      // A restart of the whole deployable under way settles its own incident and folds the others.
      if (restart !== undefined) continue;
      if (unfinished.some((step) => step.incident_id === incident.id)) continue;
      if (incident.not_before !== null && incident.not_before.getTime() > now) {
        wakeNoLaterThan(incident.not_before.getTime());
        continue;
      }
      offer({ kind: 'recover', incident });
    }
    // Launches, in waves: an assembly starts once everything it depends on runs.
    for (const wave of waves) {
      for (const name of wave) {
        const assembly = byName.get(name);
        const spec = specOf(manifest, name);
        if (assembly === undefined || spec === undefined) continue;
        const ready = spec.dependsOn.every((dependency) => byName.get(dependency)?.phase === 'running');
        if (!ready) continue;
        if (assembly.phase === 'absent' || assembly.phase === 'stopped') {
          const failures = snapshot.failedLaunches.filter((step) => step.assembly_id === assembly.id && step.incident_id === null);
          const latest = failures[0];
          const retryAt = latest === undefined ? now : (latest.finished_at ?? latest.intended_at).getTime() + options.retryDelay(failures.length);
          if (retryAt > now) wakeNoLaterThan(retryAt);
          else offer({ kind: 'launch', assembly, ...(restart?.incident_id == null ? {} : { incidentId: restart.incident_id }) });
        } else if (assembly.phase === 'failed' && !open.some((incident) => incident.assembly_id === assembly.id) && deployable.updated_at.getTime() > assembly.updated_at.getTime()) {
          // Given up on, and the deployable was started again since: launch it anew (its old VM is fenced first).
          offer({ kind: 'replace', assembly });
        }
      }
    }
    // A roll-out: assemblies launched from another spec are replaced wave by wave, each wave once the earlier ones run the new spec.
    let earlierWavesCurrent = true;
    for (const wave of waves) {
      let waveCurrent = true;
      for (const name of wave) {
        const assembly = byName.get(name);
        const spec = specOf(manifest, name);
        if (assembly === undefined || spec === undefined) continue;
        const stale = assembly.spec_hash !== null && assembly.spec_hash !== specHash(spec);
        if (stale || assembly.phase !== 'running') waveCurrent = false;
        if (stale && earlierWavesCurrent && assembly.phase === 'running' && !open.some((incident) => incident.assembly_id === assembly.id)) offer({ kind: 'replace', assembly });
      }
      earlierWavesCurrent &&= waveCurrent;
    }
    // Assemblies the manifest no longer has are stopped, then forgotten.
    for (const assembly of assemblies) {
      if (!inManifest.has(assembly.name) && assembly.phase !== 'removed') offer({ kind: 'stop', assembly, remove: true });
    }
    for (const reconfiguration of snapshot.reconfigurations) {
      if (reconfiguration.not_before !== null && reconfiguration.not_before.getTime() > now) {
        wakeNoLaterThan(reconfiguration.not_before.getTime());
        continue;
      }
      if (byName.get(assemblies.find((assembly) => assembly.id === reconfiguration.assembly_id)?.name ?? '')?.phase !== 'running') continue;
      offer({ kind: 'reconfigure', reconfiguration });
    }
  } else {
    cancel.push(...open);
    // Stop in reverse order: an assembly stops once nothing that depends on it still runs.
    for (const wave of [...waves].reverse()) {
      for (const name of wave) {
        const assembly = byName.get(name);
        if (assembly === undefined || !mayHaveVm(assembly)) continue;
        const dependentsDown = manifest.assemblies
          .filter((other) => other.dependsOn.includes(name))
          .every((other) => {
            const row = byName.get(other.name);
            return row === undefined || !mayHaveVm(row);
          });
        if (dependentsDown) offer({ kind: 'stop', assembly, remove: false });
      }
    }
    for (const assembly of assemblies) {
      if (!inManifest.has(assembly.name) && assembly.phase !== 'removed') offer({ kind: 'stop', assembly, remove: true });
    }
  }

  const state = stateOf(snapshot, restart !== undefined);
  const idle = tasks.length === 0 && cancel.length === 0 && busy.size === 0 && wakeAt === undefined && unfinished.length === 0;
  return { tasks, cancel, state, wakeAt, idle };
}

/** The deployable's state, as its rows say it. */
export function stateOf(snapshot: DeployableSnapshot, restarting: boolean): DeployableState {
  const { deployable, assemblies, incidents } = snapshot;
  const current = assemblies.filter((assembly) => assembly.phase !== 'removed');
  if (deployable.desired !== 'running') return current.some(mayHaveVm) ? 'stopping' : 'stopped';
  const open = incidents.filter((incident) => incident.status !== 'closed');
  if (open.length > 0 || restarting) {
    const held = deployable.maintenance || open.every((incident) => assemblies.find((assembly) => assembly.id === incident.assembly_id)?.maintenance === true);
    return held ? 'degraded' : 'recovering';
  }
  const inManifest = new Set(deployable.manifest.assemblies.map((assembly) => assembly.name));
  const wanted = current.filter((assembly) => inManifest.has(assembly.name));
  if (wanted.some((assembly) => assembly.phase === 'failed')) return 'failed';
  if (wanted.length > 0 && wanted.every((assembly) => assembly.phase === 'running')) return 'running';
  return deployable.state === 'running' || deployable.state === 'recovering' || deployable.state === 'degraded' ? 'degraded' : 'starting';
}
