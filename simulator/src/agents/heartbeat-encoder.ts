/**
 * Heartbeat bodies for the hot path. A beat differs from the previous one only in its sequence and
 * sent time, so the encoder keeps the JSON of everything else and rebuilds it only when the
 * addresses or a resource's state change: one string concatenation, one HMAC and one Buffer per
 * beat, no JSON.stringify, no schema validation (tests validate every body with `parseHeartbeat`).
 */
import { isIP } from 'node:net';
import { AGENT_PROTOCOL_VERSION, signAgentJson } from '@defib/contracts';
import type { Address, AgentKey, ResourceStatus } from '@defib/contracts';
import type { VmAddress } from '../cloud/vm.ts';
import type { Resource } from './resource.ts';

/** Who is beating: the parts of a heartbeat fixed for one boot. */
export interface HeartbeatIdentity {
  assemblyId: string;
  deployableId: string;
  instanceId: string;
  bootId: string;
  intervalMs: number;
  /** The assembly's key, from the agent configuration: every beat is signed with it. */
  key: AgentKey;
}

/** A VM's addresses as the agent protocol shows them. */
export function toProtocolAddresses(addresses: readonly VmAddress[]): Address[] {
  return addresses.map((address) => ({ address: address.address, type: address.kind, network: address.network, version: isIP(address.address) === 6 ? 6 : 4 }));
}

/** Resources as a heartbeat reports them. */
export function toResourceStatuses(resources: readonly Resource[]): ResourceStatus[] {
  return resources.map((resource) => {
    const since = Math.floor(resource.since);
    return resource.detail === undefined ? { name: resource.name, state: resource.state, since } : { name: resource.name, state: resource.state, since, detail: resource.detail };
  });
}

export class HeartbeatEncoder {
  readonly #head: string;
  readonly #key: AgentKey;
  #addresses = '[]';
  #resources = '[]';
  #body: string | undefined;

  constructor(identity: HeartbeatIdentity) {
    this.#key = identity.key;
    this.#head =
      `{"kind":"heartbeat","protocol":${AGENT_PROTOCOL_VERSION},"assemblyId":${JSON.stringify(identity.assemblyId)},` +
      `"deployableId":${JSON.stringify(identity.deployableId)},"instanceId":${JSON.stringify(identity.instanceId)},` +
      `"bootId":${JSON.stringify(identity.bootId)},"intervalMs":${identity.intervalMs},"addresses":`;
  }

  setAddresses(addresses: readonly VmAddress[]): void {
    this.#addresses = JSON.stringify(toProtocolAddresses(addresses));
    this.#body = undefined;
  }

  setResources(resources: readonly Resource[]): void {
    this.#resources = JSON.stringify(toResourceStatuses(resources));
    this.#body = undefined;
  }

  /** The signed heartbeat body, as UTF-8 JSON. `sentAt` is rounded down to whole milliseconds, as the protocol wants. */
  encode(sequence: number, sentAt: number): Buffer {
    this.#body ??= `${this.#head}${this.#addresses},"resources":${this.#resources},"sequence":`;
    return signAgentJson(`${this.#body}${sequence},"sentAt":${Math.floor(sentAt)}}`, this.#key);
  }
}
