import { describe, expect, it } from 'vitest';
import { classifyAddress, createNetworkPolicy, parseCidr, unwrapEmbeddedIpv4, vetWebhookTarget } from './network-policy.ts';

describe('address classification', () => {
  it.each([
    ['169.254.169.254', 'link-local'],
    ['169.254.0.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fc00::1', 'private'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['2606:4700::1111', 'public'],
  ] as const)('classifies %s as %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('judges IPv6 forms that embed an IPv4 address by that address', () => {
    expect(classifyAddress('::ffff:169.254.169.254')).toBe('link-local');
    expect(classifyAddress('::ffff:a9fe:a9fe')).toBe('link-local');
    expect(classifyAddress('[::ffff:127.0.0.1]')).toBe('loopback');
    expect(classifyAddress('::ffff:10.1.2.3')).toBe('private');
    expect(classifyAddress('64:ff9b::a9fe:a9fe')).toBe('link-local');
    expect(classifyAddress('::10.0.0.1')).toBe('private');
    expect(classifyAddress('::ffff:8.8.8.8')).toBe('public');
    expect(unwrapEmbeddedIpv4('::ffff:a00:1')).toBe('10.0.0.1');
    expect(unwrapEmbeddedIpv4('2001:db8::1')).toBe('2001:db8::1');
  });

  it('throws for text that is not an address', () => {
    expect(() => classifyAddress('example.com')).toThrow(TypeError);
  });
});

describe('network policy', () => {
  it('allows public addresses and refuses private and loopback ones by default', () => {
    const policy = createNetworkPolicy([]);
    expect(policy.judge('93.184.216.34')).toEqual({ allowed: true });
    expect(policy.judge('127.0.0.1')).toMatchObject({ allowed: false, reason: expect.stringContaining('loopback') as unknown });
    expect(policy.judge('10.0.0.1')).toMatchObject({ allowed: false, reason: expect.stringContaining('NOTIFIER_ALLOWED_NETWORKS') as unknown });
  });

  it('allows private and loopback addresses inside the configured networks only', () => {
    const policy = createNetworkPolicy(['127.0.0.0/8', '10.1.0.0/16', 'fd00::/8']);
    expect(policy.judge('127.0.0.1').allowed).toBe(true);
    expect(policy.judge('::ffff:127.0.0.1').allowed).toBe(true);
    expect(policy.judge('10.1.200.3').allowed).toBe(true);
    expect(policy.judge('10.2.0.1').allowed).toBe(false);
    expect(policy.judge('fd00::5').allowed).toBe(true);
    expect(policy.judge('::1').allowed).toBe(false);
  });

  it('never allows link-local addresses, even when configured', () => {
    const policy = createNetworkPolicy(['169.254.0.0/16', '0.0.0.0/0']);
    expect(policy.judge('169.254.169.254')).toMatchObject({ allowed: false, reason: expect.stringContaining('may never call') as unknown });
    expect(policy.judge('::ffff:169.254.169.254').allowed).toBe(false);
  });

  it('parses CIDRs and refuses malformed ones', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ network: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('::1')).toEqual({ network: '::1', prefix: 128, family: 'ipv6' });
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('example.com/8')).toBeUndefined();
    expect(() => createNetworkPolicy(['nonsense'])).toThrow('not a CIDR');
  });
});

describe('webhook targets', () => {
  const policy = createNetworkPolicy(['127.0.0.0/8']);
  const dns = (answers: Record<string, string[]>) => (host: string) => (answers[host] === undefined ? Promise.reject(Object.assign(new Error('nope'), { code: 'ENOTFOUND' })) : Promise.resolve(answers[host]));

  it('returns the vetted addresses a delivery may connect to', async () => {
    expect(await vetWebhookTarget(new URL('http://hooks.test/x'), policy, dns({ 'hooks.test': ['127.0.0.1', '8.8.8.8'] }))).toEqual({ allowed: true, addresses: ['127.0.0.1', '8.8.8.8'] });
    expect(await vetWebhookTarget(new URL('http://[::ffff:127.0.0.1]:8080/x'), policy, dns({}))).toEqual({ allowed: true, addresses: ['::ffff:7f00:1'] });
  });

  it('refuses a name when any of its addresses is forbidden, or when it does not resolve', async () => {
    expect(await vetWebhookTarget(new URL('http://mixed.test/x'), policy, dns({ 'mixed.test': ['8.8.8.8', '169.254.169.254'] }))).toMatchObject({ allowed: false, reason: expect.stringContaining('link-local') as unknown });
    expect(await vetWebhookTarget(new URL('http://gone.test/x'), policy, dns({}))).toEqual({ allowed: false, reason: 'host gone.test does not resolve (ENOTFOUND)' });
  });
});
