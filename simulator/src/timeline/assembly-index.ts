/**
 * Which assembly a VM belongs to, read from the agent configuration in its user data (the same
 * configuration its in-guest agent starts from). VMs without one belong to no assembly.
 */
import { decodeAgentConfig } from '@defib/contracts';
import type { Vm } from '../cloud/vm.ts';

/** An assembly as its VMs' agent configuration names it. */
export interface AssemblyRef {
  readonly assemblyId: string;
  /** The assembly's name in its manifest. */
  readonly assembly: string;
  readonly deployableId: string;
}

export class AssemblyIndex {
  // User data never changes after creation, so each VM is decoded once.
  readonly #known = new WeakMap<Readonly<Vm>, AssemblyRef | null>();

  of(vm: Readonly<Vm>): AssemblyRef | undefined {
    let ref = this.#known.get(vm);
    if (ref === undefined) {
      ref = decode(vm.userData);
      this.#known.set(vm, ref);
    }
    return ref ?? undefined;
  }
}

function decode(userData: string | null): AssemblyRef | null {
  if (userData === null) return null;
  try {
    const config = decodeAgentConfig(userData);
    return { assemblyId: config.assemblyId, assembly: config.assembly, deployableId: config.deployableId };
  } catch {
    return null;
  }
}
