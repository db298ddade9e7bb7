/**
 * Resolving a fault's target against the clouds: which clouds, hosts and VMs it names. Pure
 * functions over the cloud model; an unknown cloud, host, zone, VM or assembly is an
 * `UnknownTargetError` naming the field (the control API answers it with a 404).
 */
import type { Cloud } from '../cloud/cloud.ts';
import type { Vm } from '../cloud/vm.ts';
import type { AssemblyIndex } from '../timeline/assembly-index.ts';
import type { FaultTarget } from './fault-spec.ts';

/** One VM of one cloud. */
export interface TargetedVm {
  readonly cloud: Cloud;
  readonly vm: Readonly<Vm>;
}

/** One host of one cloud. */
export interface TargetedHost {
  readonly cloud: Cloud;
  readonly host: string;
}

/** A target names something that does not exist (or, for VM and assembly selectors, matches nothing). */
export class UnknownTargetError extends Error {
  /** The field of the fault that names it, e.g. `target.host`. */
  readonly field: string;
  readonly value: string;

  constructor(field: string, value: string, message: string) {
    super(message);
    this.name = 'UnknownTargetError';
    this.field = field;
    this.value = value;
  }
}

/** The clouds a target is narrowed to: the named one, or all. */
export function targetClouds(target: FaultTarget, clouds: readonly Cloud[]): Cloud[] {
  if (target.cloud === undefined) return [...clouds];
  const cloud = clouds.find((candidate) => candidate.name === target.cloud);
  if (!cloud) throw new UnknownTargetError('target.cloud', target.cloud, `no cloud named "${target.cloud}"`);
  return [cloud];
}

/** Whether a VM of `cloud` is selected by the target (ignoring `pick`). */
export function matchesVm(target: FaultTarget, cloud: Cloud, vm: Readonly<Vm>, assemblies: AssemblyIndex): boolean {
  if (target.cloud !== undefined && target.cloud !== cloud.name) return false;
  if (target.vm !== undefined) return vm.id === target.vm || vm.name === target.vm;
  if (target.host !== undefined) return vm.host === target.host;
  if (target.zone !== undefined) return vm.zone === target.zone;
  if (target.tag !== undefined) {
    const { key, value } = target.tag;
    return vm.tags.some((tag) => tag.key === key && (value === undefined || tag.value === value));
  }
  if (target.assembly !== undefined) {
    const ref = assemblies.of(vm);
    return ref !== undefined && (ref.assemblyId === target.assembly || ref.assembly === target.assembly);
  }
  return true;
}

/**
 * The existing (not deleted) VMs a target selects, in cloud then creation order. Throws when it
 * names an unknown cloud, host or zone, or when `strict` and a `vm` or `assembly` selector (which
 * name things that come and go) matches nothing.
 */
export function resolveVms(target: FaultTarget, clouds: readonly Cloud[], assemblies: AssemblyIndex, strict: boolean): TargetedVm[] {
  const scope = targetClouds(target, clouds);
  checkPlaces(target, scope);
  const matched = scope.flatMap((cloud) => cloud.list().filter((vm) => vm.state.phase !== 'deleted' && matchesVm(target, cloud, vm, assemblies)).map((vm) => ({ cloud, vm })));
  if (strict && matched.length === 0) {
    if (target.vm !== undefined) throw new UnknownTargetError('target.vm', target.vm, `no VM with id or name "${target.vm}"`);
    if (target.assembly !== undefined) throw new UnknownTargetError('target.assembly', target.assembly, `no VM of assembly "${target.assembly}"`);
  }
  return matched;
}

/** The hosts a host-failure strikes: the named host, every host of the zone, or of the cloud(s). */
export function resolveHosts(target: FaultTarget, clouds: readonly Cloud[]): TargetedHost[] {
  const scope = targetClouds(target, clouds);
  checkPlaces(target, scope);
  return scope.flatMap((cloud) =>
    cloud
      .hosts()
      .filter((host) => (target.host === undefined || host.name === target.host) && (target.zone === undefined || host.zone === target.zone))
      .map((host) => ({ cloud, host: host.name })),
  );
}

function checkPlaces(target: FaultTarget, scope: readonly Cloud[]): void {
  if (target.host !== undefined && !scope.some((cloud) => cloud.hosts().some((host) => host.name === target.host))) {
    throw new UnknownTargetError('target.host', target.host, `no host named "${target.host}"${target.cloud === undefined ? '' : ` in cloud "${target.cloud}"`}`);
  }
  if (target.zone !== undefined && !scope.some((cloud) => cloud.config.zones.some((zone) => zone.name === target.zone))) {
    throw new UnknownTargetError('target.zone', target.zone, `no availability zone named "${target.zone}"${target.cloud === undefined ? '' : ` in cloud "${target.cloud}"`}`);
  }
}
