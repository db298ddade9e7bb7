/**
 * A VM's network address, as agents report it in heartbeats and as events carry it
 * (`assembly.launched`, `assembly.address-changed`, …).
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * One address of a VM. `fixed`: assigned on a network the VM is attached to (private);
 * `floating`: a public address mapped onto it (an OpenStack floating IP, an EC2 public/elastic IP).
 */
export const addressSchema = z
  .strictObject({
    address: z.string().refine((text) => isIP(text) !== 0, 'must be an IPv4 or IPv6 address'),
    type: z.enum(['fixed', 'floating']),
    /** Network name (OpenStack) or subnet/VPC id (EC2), when known. */
    network: z.string().min(1).max(255).optional(),
    version: z.union([z.literal(4), z.literal(6)]),
  })
  .refine(({ address, version }) => isIP(address) === 0 || isIP(address) === version, {
    path: ['version'],
    message: 'does not match the address family',
  });

/** One address of a VM. */
export type Address = z.output<typeof addressSchema>;

/** A VM's addresses; agents and the cloud APIs report at most a handful. */
export const addressesSchema = z.array(addressSchema).max(64);

/** Whether two address lists hold the same addresses (order ignored): no `assembly.address-changed` if so. */
export function sameAddresses(a: readonly Address[], b: readonly Address[]): boolean {
  const key = (address: Address): string => `${address.type}|${address.version}|${address.address}|${address.network ?? ''}`;
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.length === right.length && left.every((entry, index) => entry === right[index]);
}
