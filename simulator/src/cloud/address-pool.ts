/**
 * An IPv4 pool over a CIDR block. Addresses are drawn at seeded-random positions (so runs are
 * reproducible but addresses do not look sequential, which would hide clients' assumptions) and
 * never include the network address, the gateway (.1) or the broadcast address.
 */
import type { SeededRandom } from '@defib/platform';

/** Raised when a pool has no free address left. */
export class AddressPoolExhaustedError extends Error {
  readonly cidr: string;
  constructor(cidr: string) {
    super(`no free address left in ${cidr}`);
    this.name = 'AddressPoolExhaustedError';
    this.cidr = cidr;
  }
}

export class AddressPool {
  readonly cidr: string;
  readonly #first: number;
  readonly #size: number;
  readonly #random: SeededRandom;
  readonly #used = new Set<number>();

  constructor(cidr: string, random: SeededRandom) {
    const { base, prefix } = parseCidr(cidr);
    if (prefix > 30) throw new Error(`pool ${cidr} is too small: use a /30 or larger`);
    this.cidr = cidr;
    this.#first = base + 2;
    this.#size = 2 ** (32 - prefix) - 3;
    this.#random = random;
  }

  /** Takes a free address. */
  allocate(): string {
    if (this.#used.size >= this.#size) throw new AddressPoolExhaustedError(this.cidr);
    let offset = this.#random.int(0, this.#size - 1);
    while (this.#used.has(offset)) offset = (offset + 1) % this.#size;
    this.#used.add(offset);
    return formatIpv4(this.#first + offset);
  }

  /** Returns an address to the pool; unknown addresses are ignored. */
  release(address: string): void {
    this.#used.delete(parseIpv4(address) - this.#first);
  }

  /** Whether the pool could hand out this address. */
  contains(address: string): boolean {
    const offset = parseIpv4(address) - this.#first;
    return offset >= 0 && offset < this.#size;
  }

  get freeCount(): number {
    return this.#size - this.#used.size;
  }

  clear(): void {
    this.#used.clear();
  }
}

function parseCidr(cidr: string): { base: number; prefix: number } {
  const [address, prefixText] = cidr.split('/');
  const prefix = Number(prefixText);
  if (address === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`invalid CIDR ${cidr}`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (parseIpv4(address) & mask) >>> 0, prefix };
}

/** Parses a dotted IPv4 address into an unsigned 32-bit number. */
export function parseIpv4(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) throw new Error(`invalid IPv4 address ${address}`);
  return parts.reduce((sum, part) => sum * 256 + part, 0);
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}
