/**
 * Nova's view of a server as Defib's {@link CloudInstance}: the status and task state normalised
 * to an {@link InstanceState} (the provider's own words kept in `cloudStatus`), the addresses of
 * every network with their kind, zone, host, metadata and the launch's action id.
 */
import { isIP } from 'node:net';
import type { Address } from '@defib/contracts';
import { z } from 'zod';
import { actionMetadataKey, type CloudInstance, type InstanceState } from '../driver/cloud-driver.ts';

const addressSchema = z.looseObject({
  addr: z.string(),
  version: z.number().optional(),
  'OS-EXT-IPS:type': z.string().optional(),
});

/** The fields of a Nova server the driver reads (2.1 and later); the rest is ignored. */
export const novaServerSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().default(''),
  status: z.string().default('UNKNOWN'),
  'OS-EXT-STS:task_state': z.string().nullish(),
  'OS-EXT-AZ:availability_zone': z.string().nullish(),
  hostId: z.string().nullish(),
  addresses: z.record(z.string(), z.array(addressSchema)).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  tags: z.array(z.string()).nullish(),
  updated: z.string().nullish(),
});
export type NovaServer = z.output<typeof novaServerSchema>;

const rebootingTasks = new Set(['rebooting', 'reboot_pending', 'reboot_started', 'rebooting_hard', 'reboot_pending_hard', 'reboot_started_hard']);

/** The normalised state of a server with Nova `status` and `OS-EXT-STS:task_state`. */
export function instanceState(status: string, taskState: string | null | undefined): InstanceState {
  const upper = status.toUpperCase();
  if (upper === 'DELETED' || upper === 'SOFT_DELETED') return 'terminated';
  if (taskState === 'deleting') return 'terminating';
  switch (upper) {
    case 'BUILD':
      return 'pending';
    case 'ACTIVE':
      if (taskState && rebootingTasks.has(taskState)) return 'rebooting';
      if (taskState === 'powering-off') return 'stopping';
      return 'running';
    case 'REBOOT':
    case 'HARD_REBOOT':
      return 'rebooting';
    case 'SHUTOFF':
      return 'stopped';
    case 'ERROR':
      return 'error';
    default:
      return 'other';
  }
}

/** The addresses of every network the server is on; entries that are not IP addresses are skipped. */
export function serverAddresses(addresses: NovaServer['addresses']): Address[] {
  const result: Address[] = [];
  for (const [network, entries] of Object.entries(addresses ?? {})) {
    for (const entry of entries) {
      const family = isIP(entry.addr);
      if (family !== 4 && family !== 6) continue;
      const type = entry['OS-EXT-IPS:type'] === 'floating' ? 'floating' : 'fixed';
      result.push({ address: entry.addr, type, version: family, ...(network === '' ? {} : { network }) });
    }
  }
  return result;
}

function stringValues(metadata: NovaServer['metadata']): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) if (typeof value === 'string') result[key] = value;
  return result;
}

/** A Nova server as a CloudInstance. */
export function instanceFromServer(server: NovaServer): CloudInstance {
  const taskState = server['OS-EXT-STS:task_state'];
  const zone = server['OS-EXT-AZ:availability_zone'];
  const metadata = stringValues(server.metadata);
  const actionId = metadata[actionMetadataKey];
  return {
    id: server.id,
    name: server.name,
    state: instanceState(server.status, taskState),
    cloudStatus: taskState ? `${server.status}/${taskState}` : server.status,
    addresses: serverAddresses(server.addresses),
    ...(zone ? { zone } : {}),
    ...(server.hostId ? { hostId: server.hostId } : {}),
    metadata,
    ...(actionId === undefined ? {} : { actionId }),
    ...(server.updated ? { updatedAt: server.updated } : {}),
  };
}
