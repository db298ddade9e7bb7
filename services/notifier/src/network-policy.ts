/**
 * Where webhooks may go (SSRF safety). Every address a webhook host resolves to is classified;
 * public addresses are allowed, private and loopback ones only inside the networks the operator
 * allows (`NOTIFIER_ALLOWED_NETWORKS`), and link-local (the cloud metadata service at
 * 169.254.169.254 included), unspecified, multicast and reserved addresses never. IPv6 forms that
 * embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
 * `64:ff9b::a.b.c.d`) are judged by the IPv4 address they carry.
 */
import { BlockList, isIP, isIPv4 } from 'node:net';

/** What kind of address an IP is, as far as reaching it from Defib goes. */
export type AddressClass = 'public' | 'private' | 'loopback' | 'link-local' | 'unspecified' | 'multicast' | 'reserved';

type Rule = readonly [network: string, prefix: number, family: 'ipv4' | 'ipv6', kind: Exclude<AddressClass, 'public'>];

/** Special-purpose ranges (RFC 6890 and the IANA registries), most specific first where they nest. */
const RULES: readonly Rule[] = [
  ['0.0.0.0', 32, 'ipv4', 'unspecified'],
  ['0.0.0.0', 8, 'ipv4', 'reserved'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'private'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.0.0.0', 24, 'ipv4', 'reserved'],
  ['192.0.2.0', 24, 'ipv4', 'reserved'],
  ['192.88.99.0', 24, 'ipv4', 'reserved'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['198.18.0.0', 15, 'ipv4', 'private'],
  ['198.51.100.0', 24, 'ipv4', 'reserved'],
  ['203.0.113.0', 24, 'ipv4', 'reserved'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['100::', 64, 'ipv6', 'reserved'],
  ['2001:db8::', 32, 'ipv6', 'reserved'],
  ['fc00::', 7, 'ipv6', 'private'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['fec0::', 10, 'ipv6', 'reserved'],
  ['ff00::', 8, 'ipv6', 'multicast'],
];

const rules = RULES.map(([network, prefix, family, kind]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { list, family, kind };
});

/** `::ffff:10.0.0.1` → `10.0.0.1`, `::ffff:a00:1` → `10.0.0.1`; anything else unchanged. */
export function unwrapEmbeddedIpv4(address: string): string {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIP(bare) !== 6) return bare;
  const expanded = expandIpv6(bare);
  const groups = expanded.split(':');
  const isMapped = groups.slice(0, 5).every((group) => group === '0000') && groups[5] === 'ffff';
  const isCompatible = groups.slice(0, 6).every((group) => group === '0000') && groups.slice(6).some((group) => group !== '0000') && expanded !== '0000:0000:0000:0000:0000:0000:0000:0001';
  const isNat64 = groups[0] === '0064' && groups[1] === 'ff9b' && groups.slice(2, 6).every((group) => group === '0000');
  const isTranslated = groups.slice(0, 4).every((group) => group === '0000') && groups[4] === 'ffff' && groups[5] === '0000';
  if (!isMapped && !isCompatible && !isNat64 && !isTranslated) return bare;
  const high = Number.parseInt(groups[6] ?? '0', 16);
  const low = Number.parseInt(groups[7] ?? '0', 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** The eight four-digit groups of an IPv6 address (dotted IPv4 tails converted). */
function expandIpv6(address: string): string {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined && isIPv4(dotted[1])) {
    const octets = dotted[1].split('.').map(Number);
    const hex = (a: number, b: number) => ((a << 8) | b).toString(16);
    text = text.slice(0, -dotted[1].length) + `${hex(octets[0] ?? 0, octets[1] ?? 0)}:${hex(octets[2] ?? 0, octets[3] ?? 0)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
  return groups.map((group) => group.padStart(4, '0')).join(':');
}

/** Classifies one IP address (v4 or v6, with or without brackets). Throws for text that is not an IP. */
export function classifyAddress(address: string): AddressClass {
  const ip = unwrapEmbeddedIpv4(address);
  const family = isIP(ip) === 4 ? 'ipv4' : isIP(ip) === 6 ? 'ipv6' : undefined;
  if (family === undefined) throw new TypeError(`not an IP address: ${address}`);
  for (const rule of rules) {
    if (rule.family === family && rule.list.check(ip, family)) return rule.kind;
  }
  return 'public';
}

/** Why an address is refused, or `undefined` when it may be called. */
export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

export interface NetworkPolicy {
  /** Judges one resolved address. */
  judge(address: string): AddressVerdict;
}

/** A CIDR such as `127.0.0.0/8`, `10.1.0.0/16` or `fd00::/8`; `undefined` when malformed. */
export function parseCidr(text: string): { network: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [network = '', prefixText, ...rest] = text.trim().split('/');
  const version = isIP(network);
  if (version === 0 || rest.length > 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { network, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * The policy for `allowedNetworks` (CIDRs): public addresses pass; private and loopback addresses
 * pass only inside an allowed network; everything else is refused whatever the configuration says.
 */
export function createNetworkPolicy(allowedNetworks: readonly string[]): NetworkPolicy {
  const allowed = new BlockList();
  for (const cidr of allowedNetworks) {
    const parsed = parseCidr(cidr);
    if (parsed === undefined) throw new TypeError(`not a CIDR network: ${cidr}`);
    allowed.addSubnet(parsed.network, parsed.prefix, parsed.family);
  }
  return {
    judge(address) {
      const kind = classifyAddress(address);
      const ip = unwrapEmbeddedIpv4(address);
      switch (kind) {
        case 'public':
          return { allowed: true };
        case 'private':
        case 'loopback':
          return allowed.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6') || (ip !== address.replace(/^\[|\]$/g, '') && allowed.check(address.replace(/^\[|\]$/g, ''), 'ipv6'))
            ? { allowed: true }
            : { allowed: false, reason: `resolves to a ${kind} address (${ip}); allow its network in NOTIFIER_ALLOWED_NETWORKS to call it` };
        case 'link-local':
        case 'unspecified':
        case 'multicast':
        case 'reserved':
          return { allowed: false, reason: `resolves to a ${kind} address (${ip}), which webhooks may never call` };
      }
    },
  };
}

/** Resolves a host name to its addresses; injected so tests can script DNS. */
export type HostResolver = (hostname: string) => Promise<string[]>;

/** Resolves a host name to all of its addresses, IPv4 and IPv6. */
export function createSystemResolver(): HostResolver {
  return async (hostname) => {
    const { lookup } = await import('node:dns/promises');
    const results = await lookup(hostname, { all: true, verbatim: true });
    return results.map((result) => result.address);
  };
}

/** A webhook URL's verdict: the addresses it may be called at, or why it may not be called. */
export type TargetVerdict = { allowed: true; addresses: string[] } | { allowed: false; reason: string };

/**
 * Resolves a webhook URL's host and judges every address it resolves to: one forbidden address
 * refuses the URL (DNS answers rotate). The returned addresses are the only ones a delivery may
 * connect to, so a name that re-resolves between the check and the connection cannot slip by.
 */
export async function vetWebhookTarget(url: URL, policy: NetworkPolicy, resolve: HostResolver): Promise<TargetVerdict> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return { allowed: false, reason: `host ${host} does not resolve${typeof code === 'string' ? ` (${code})` : ''}` };
    }
    if (addresses.length === 0) return { allowed: false, reason: `host ${host} does not resolve` };
  }
  for (const address of addresses) {
    const verdict = policy.judge(address);
    if (!verdict.allowed) return { allowed: false, reason: `host ${host} ${verdict.reason}` };
  }
  return { allowed: true, addresses };
}
