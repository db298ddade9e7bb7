/** The monitor's HTTP API under /v1: what it sees of each deployable and assembly, now. */
import { nameSchema } from '@defib/contracts';
import { AppError, defineRoute, type Route } from '@defib/platform';
import { z } from 'zod';
import type { KnownDeployable } from './watch-sync.ts';
import type { AssemblyLiveness } from './watch.ts';

export interface LivenessReader {
  deployableByName(name: string): KnownDeployable | undefined;
  deployable(id: string): KnownDeployable | undefined;
  liveness(assemblyId: string): AssemblyLiveness | undefined;
  /** Which replica speaks for the deployable now (its shard's lease holder), and this replica's id. */
  watcherOf(deployableId: string): Promise<string | undefined>;
  readonly replicaId: string;
  /** Whether this replica holds its verdicts because it lags. */
  degraded(): boolean;
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/** One assembly's liveness as the API shows it. */
export function livenessView(liveness: AssemblyLiveness) {
  return {
    assemblyId: liveness.spec.assemblyId,
    assembly: liveness.spec.assembly,
    state: liveness.state,
    stateSince: iso(liveness.stateSince),
    instanceId: liveness.instanceId ?? null,
    bootId: liveness.bootId ?? null,
    sequence: liveness.sequence ?? null,
    lastHeartbeatAt: iso(liveness.lastBeatAt) ?? null,
    unresponsiveAt: liveness.state === 'alive' || liveness.state === 'suspect' || liveness.state === 'booting' ? (iso(liveness.dueAt) ?? null) : null,
    heartbeat: { intervalMs: liveness.spec.intervalMs, missed: liveness.spec.missed },
    addresses: liveness.addresses,
    resources: Object.fromEntries(
      liveness.spec.resources.map((resource) => {
        const seen = liveness.resources[resource.name];
        return [resource.name, seen === undefined ? { state: 'unknown' } : { state: seen.state, ...(seen.since === undefined ? {} : { since: iso(seen.since) }), ...(seen.detail === undefined ? {} : { detail: seen.detail }) }];
      }),
    ),
    staleHeartbeats: liveness.staleBeats,
  };
}

export function monitorRoutes(reader: LivenessReader): Route[] {
  const watching = async (deployable: KnownDeployable) => ({
    watchedBy: (await reader.watcherOf(deployable.id)) ?? null,
    observedBy: reader.replicaId,
    observerDegraded: reader.degraded(),
  });
  return [
    defineRoute({
      method: 'get',
      path: '/v1/deployables/:name/liveness',
      operationId: 'getDeployableLiveness',
      summary: "A deployable's assemblies as the monitor sees them now",
      description: 'State, last heartbeat, boot, sequence, addresses and resource states of every assembly, and which monitor replica speaks for the deployable.',
      tags: ['liveness'],
      scope: 'read',
      params: z.strictObject({ name: nameSchema }),
      responses: { 200: { description: 'The liveness of every assembly' }, 404: { description: 'The monitor watches no deployable of that name' } },
      async handler({ params }) {
        const deployable = reader.deployableByName(params.name);
        if (deployable === undefined) throw AppError.notFound('deployable', params.name);
        const assemblies = [...deployable.assemblies]
          .map((id) => reader.liveness(id))
          .filter((liveness): liveness is AssemblyLiveness => liveness !== undefined)
          .sort((a, b) => a.spec.assembly.localeCompare(b.spec.assembly))
          .map(livenessView);
        return { status: 200, body: { deployableId: deployable.id, deployable: deployable.name, cloud: deployable.cloud, state: deployable.state, ...(await watching(deployable)), assemblies } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/assemblies/:id/liveness',
      operationId: 'getAssemblyLiveness',
      summary: 'One assembly as the monitor sees it now',
      tags: ['liveness'],
      scope: 'read',
      params: z.strictObject({ id: z.uuid({ message: 'must be a UUID' }) }),
      responses: { 200: { description: 'The assembly’s liveness' }, 404: { description: 'The monitor watches no assembly with that id' } },
      async handler({ params }) {
        const liveness = reader.liveness(params.id);
        if (liveness === undefined) throw AppError.notFound('assembly', params.id);
        const deployable = reader.deployable(liveness.spec.deployableId);
        return {
          status: 200,
          body: { deployableId: liveness.spec.deployableId, deployable: liveness.spec.deployable, ...(deployable === undefined ? { watchedBy: null, observedBy: reader.replicaId, observerDegraded: reader.degraded() } : await watching(deployable)), ...livenessView(liveness) },
        };
      },
    }),
  ];
}
