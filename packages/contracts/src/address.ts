/**
 * A VM's network address, as agents report it in heartbeats and as events carry it
 * (`assembly.launched`, `assembly.address-changed`, …).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { AddressField } from './manifest.ts';

/** An IPv4 or IPv6 address in text form. */
export const ipAddressSchema = z.string().refine((text) => isIP(text) !== 0, 'must be an IPv4 or IPv6 address');

/**
 * One address of a VM. `fixed`: assigned on a network the VM is attached to (private);
 * `floating`: a public address mapped onto it (an OpenStack floating IP, an EC2 public/elastic IP).
 */
export const addressSchema = z
  .strictObject({
    address: ipAddressSchema,
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

/** One spelling per address: IPv6 compressed and lower-case (`2001:0DB8::0005` → `2001:db8::5`). */
export function canonicalAddress(text: string): string {
  return isIP(text) === 6 ? new URL(`http://[${text}]`).hostname.slice(1, -1) : text;
}

/**
 * Whether two address lists hold the same set of addresses: order, repeats and the provider's
 * network label are ignored (an agent does not know the label the cloud gives its network, and
 * a cloud may rename it), so only an address that really came, went or changed kind counts as an
 * `assembly.address-changed`.
 */
export function sameAddresses(a: readonly Address[], b: readonly Address[]): boolean {
  const setOf = (addresses: readonly Address[]) => new Set(addresses.map((address) => `${address.type}|${canonicalAddress(address.address)}`));
  const left = setOf(a);
  const right = setOf(b);
  return left.size === right.size && [...left].every((entry) => right.has(entry));
}

/**
 * The value a `{ ref, field }` parameter receives from the referenced assembly's addresses:
 * `publicAddress` its floating address, `privateAddress` its fixed one, `address` the floating one
 * if it has one, else the fixed one. Of several of a kind the first IPv4 one is taken (else the
 * first), so the choice does not flip with the order a cloud or an agent lists them in. Undefined
 * when the assembly has no address of that kind.
 */
export function addressForField(addresses: readonly Address[], field: AddressField): string | undefined {
  const first = (type: Address['type']) => {
    const ofType = addresses.filter((address) => address.type === type);
    return (ofType.find((address) => address.version === 4) ?? ofType[0])?.address;
  };
  switch (field) {
    case 'publicAddress':
      return first('floating');
    case 'privateAddress':
      return first('fixed');
    case 'address':
      return first('floating') ?? first('fixed');
  }
}
