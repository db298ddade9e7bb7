/**
 * Learns what to watch from the bus: each handler runs in the inbox transaction, so an event
 * redelivered after a crash changes nothing twice. Every replica then picks the change up from
 * the tables (see watch-sync.ts).
 */
import type { InboxHandlers } from '@defib/platform';
import type { MonitorTables } from './tables.ts';
import { watchRepository } from './watch.repository.ts';

export function watchIntakeHandlers(): InboxHandlers<MonitorTables> {
  return {
    async 'deployable.start-requested'(event, trx) {
      const { manifest, assemblyIds, resourceIds, version, cloud } = event.data;
      const assemblies = manifest.assemblies.map((assembly) => ({
        id: assemblyIds[assembly.name] as string,
        name: assembly.name,
        intervalMs: assembly.heartbeat.intervalMs,
        missed: assembly.heartbeat.missed,
        resources: assembly.resources.map((resource) => ({ id: resourceIds[`${assembly.name}/${resource.name}`] as string, name: resource.name })),
      }));
      await watchRepository.startDeployable(trx, { id: event.subject.deployableId, name: event.subject.deployable, cloud, version }, assemblies);
    },
    async 'deployable.stop-requested'(event, trx) {
      await watchRepository.setDeployableState(trx, event.subject.deployableId, 'stopping');
    },
    async 'deployable.state-changed'(event, trx) {
      // Recovery owns the deployable's state; the monitor only needs to know when it is down on purpose.
      if (event.data.to === 'stopped' || event.data.to === 'stopping') await watchRepository.setDeployableState(trx, event.subject.deployableId, event.data.to);
    },
    async 'deployable.deleted'(event, trx) {
      await watchRepository.setDeployableState(trx, event.subject.deployableId, 'deleted');
    },
    async 'assembly.launched'(event, trx) {
      const { subject, data } = event;
      await watchRepository.launched(trx, {
        deployableId: subject.deployableId,
        deployable: subject.deployable,
        assemblyId: subject.assemblyId,
        assembly: subject.assembly,
        cloud: data.cloud,
        instanceId: data.instanceId,
        addresses: data.addresses,
        launchedAt: new Date(event.occurredAt),
      });
    },
    async 'assembly.stopped'(event, trx) {
      await watchRepository.stopped(trx, event.subject.assemblyId, event.data.instanceId);
    },
  };
}
