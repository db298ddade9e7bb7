/**
 * The simulator's own control API under `/_sim/` (JSON, problem+json errors). For now: inspect
 * the clouds and reset them; faults, timeline and scenarios will join here.
 */
import express from 'express';
import type { ErrorRequestHandler, Router } from 'express';
import type { Cloud } from '../cloud/cloud.ts';
import { ec2State } from '../cloud/ec2-state.ts';
import { novaState } from '../cloud/nova-state.ts';
import type { Vm } from '../cloud/vm.ts';

function vmView(vm: Readonly<Vm>, cloud: Cloud): object {
  return {
    id: vm.id,
    name: vm.name,
    phase: vm.state.phase,
    task: vm.state.task,
    providerState: cloud.provider === 'openstack' ? novaState(vm.state) : ec2State(vm.state),
    image: vm.imageId,
    flavor: vm.flavorId,
    zone: vm.zone,
    host: vm.host,
    addresses: vm.addresses.map(({ network, address, kind }) => ({ network, address, kind })),
    tags: vm.tags,
    metadata: vm.metadata,
    hasUserData: vm.userData !== null,
    createdAt: new Date(vm.createdAt).toISOString(),
    updatedAt: new Date(vm.updatedAt).toISOString(),
    launchedAt: vm.launchedAt === null ? null : new Date(vm.launchedAt).toISOString(),
    deletedAt: vm.deletedAt === null ? null : new Date(vm.deletedAt).toISOString(),
  };
}

/** A JSON view of one cloud, for `/_sim/clouds`. */
export function cloudView(cloud: Cloud): object {
  return {
    name: cloud.name,
    provider: cloud.provider,
    region: cloud.region,
    zones: cloud.config.zones,
    images: cloud.images.map(({ id, name }) => ({ id, name })),
    flavors: cloud.flavors,
    networks: cloud.networks.map((network) => ({ id: network.id, name: network.name, fixedCidr: network.config.fixedCidr, floatingCidr: network.config.floatingCidr ?? null })),
    vms: cloud.list().map((vm) => vmView(vm, cloud)),
    floatingAddresses: cloud.floatingAddresses(),
  };
}

export function createControlRouter(options: { clouds: () => readonly Cloud[]; reset: () => void }): Router {
  const router = express.Router();
  router.get('/clouds', (_req, res) => {
    res.json({ clouds: options.clouds().map(cloudView) });
  });
  router.post('/reset', (_req, res) => {
    options.reset();
    res.status(204).end();
  });
  router.use((req, res) => {
    res.status(404).type('application/problem+json').json({ type: 'about:blank', title: 'Not Found', status: 404, detail: `No control endpoint ${req.method} ${req.originalUrl}` });
  });
  const handleError: ErrorRequestHandler = (_error: unknown, _req, res, _next) => {
    res.status(500).type('application/problem+json').json({ type: 'about:blank', title: 'Internal Server Error', status: 500 });
  };
  router.use(handleError);
  return router;
}
