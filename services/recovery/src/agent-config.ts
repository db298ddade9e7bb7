/**
 * The agent configuration recovery gives every VM it launches (as user data): where the broker
 * is, which assembly the VM is, the assembly's own key, what to watch, and each resource's
 * parameters with address references resolved against the addresses known at launch time.
 * A reference that cannot be resolved yet (the referenced assembly has no VM or no address of that
 * kind) is left out and reported, so the caller can reconfigure the resource once it can.
 */
import { addressForField, deriveAgentKey, encodeAgentConfig, encodeAgentKey, AGENT_PROTOCOL_VERSION } from '@defib/contracts';
import type { Address, AddressField, AssemblySpec, ResourceSpec } from '@defib/contracts';

/** Where to find an assembly's addresses, by assembly name; undefined when it has none (yet). */
export type AddressesOf = (assembly: string) => readonly Address[] | undefined;

/** A `{ ref, field }` parameter whose referenced assembly has no such address yet. */
export interface UnresolvedParam {
  param: string;
  ref: string;
  field: AddressField;
}

/** A resource parameter set with every address reference resolved, or the references that cannot be yet. */
export function resolveParams(params: ResourceSpec['params'], addressesOf: AddressesOf): { params: Record<string, string>; unresolved: UnresolvedParam[] } {
  const resolved: Record<string, string> = {};
  const unresolved: UnresolvedParam[] = [];
  for (const [param, value] of Object.entries(params)) {
    if (typeof value === 'string') {
      resolved[param] = value;
      continue;
    }
    const addresses = addressesOf(value.ref);
    const address = addresses === undefined ? undefined : addressForField(addresses, value.field);
    if (address === undefined) unresolved.push({ param, ref: value.ref, field: value.field });
    else resolved[param] = address;
  }
  return { params: resolved, unresolved };
}

export interface AgentConfigInput {
  /** The broker URL agents connect to (`RECOVERY_AGENT_BROKER_URL`, else `AMQP_URL`). */
  brokerUrl: string;
  /** The installation's agent exchange, `<BUS_PREFIX>.agents`. */
  exchange: string;
  /** `DEFIB_AGENT_SECRET`: the assembly's key derives from it and the assembly id. */
  agentSecret: Uint8Array;
  deployableId: string;
  assemblyId: string;
  assembly: AssemblySpec;
  addressesOf: AddressesOf;
}

/**
 * The agent configuration a VM gets as user data: its JSON text, validated against the agent
 * protocol and at most 16 KiB (the driver base64-encodes it for the API). Throws a
 * ContractViolation when it would not be valid (a bug in the caller's data, not a cloud problem).
 */
export function agentConfigFor(input: AgentConfigInput): { userData: string; unresolved: { resource: string; param: string; ref: string }[] } {
  const unresolved: { resource: string; param: string; ref: string }[] = [];
  const resources = input.assembly.resources.map((resource) => {
    const resolved = resolveParams(resource.params, input.addressesOf);
    unresolved.push(...resolved.unresolved.map(({ param, ref }) => ({ resource: resource.name, param, ref })));
    return {
      name: resource.name,
      monitorIntervalMs: resource.monitor.intervalMs,
      monitorTimeoutMs: resource.monitor.timeoutMs,
      ...(Object.keys(resolved.params).length === 0 ? {} : { params: resolved.params }),
    };
  });
  const encoded = encodeAgentConfig({
    protocol: AGENT_PROTOCOL_VERSION,
    brokerUrl: input.brokerUrl,
    exchange: input.exchange,
    deployableId: input.deployableId,
    assemblyId: input.assemblyId,
    key: encodeAgentKey(deriveAgentKey(input.agentSecret, input.assemblyId)),
    assembly: input.assembly.name,
    heartbeatIntervalMs: input.assembly.heartbeat.intervalMs,
    resources,
  });
  // encodeAgentConfig validates and enforces the size; the driver wants the plain text.
  return { userData: Buffer.from(encoded, 'base64').toString('utf8'), unresolved };
}
