import { randomUUID } from 'node:crypto';
import { decodeAgentConfig, deriveAgentKey, encodeAgentKey, validateManifest, type Address, type AssemblySpec } from '@defib/contracts';
import { TEST_AGENT_SECRET } from '@defib/contracts/testing';
import { describe, expect, it } from 'vitest';
import { agentConfigFor, resolveParams } from './agent-config.ts';

const fixed = (address: string): Address => ({ address, type: 'fixed', version: 4 });
const floating = (address: string): Address => ({ address, type: 'floating', version: 4 });

/** An assembly `web` whose resource `httpd` has the given parameters, parsed as the manifest would be. */
function webWith(params: Record<string, unknown>): AssemblySpec {
  const validation = validateManifest({
    apiVersion: 'defib/v1',
    kind: 'Deployable',
    name: 'shop',
    cloud: 'sim-openstack',
    assemblies: [
      { name: 'db', image: 'fedora-40', flavor: 'm1.small', resources: [{ name: 'mysqld' }] },
      { name: 'web', image: 'fedora-40', flavor: 'm1.small', heartbeat: { interval: '500ms' }, resources: [{ name: 'httpd', monitor: { interval: '3s', timeout: '1s' }, params }] },
    ],
  });
  if (!validation.ok) throw new Error(JSON.stringify(validation.issues));
  const web = validation.manifest.assemblies.find((assembly) => assembly.name === 'web');
  if (web === undefined) throw new Error('no web');
  return web;
}

describe('resolveParams', () => {
  it('resolves each reference by its field: public, private, or the preferred address', () => {
    const addresses = [fixed('10.0.0.5'), floating('203.0.113.9')];
    const { params, unresolved } = resolveParams(
      { PUBLIC: { ref: 'db', field: 'publicAddress' }, PRIVATE: { ref: 'db', field: 'privateAddress' }, ANY: { ref: 'db', field: 'address' } },
      (assembly) => (assembly === 'db' ? addresses : undefined),
    );
    expect(params).toEqual({ PUBLIC: '203.0.113.9', PRIVATE: '10.0.0.5', ANY: '203.0.113.9' });
    expect(unresolved).toEqual([]);
  });

  it('passes plain strings through untouched', () => {
    expect(resolveParams({ MODE: 'production', EMPTY: '' }, () => undefined)).toEqual({ params: { MODE: 'production', EMPTY: '' }, unresolved: [] });
  });

  it('reports a reference to an assembly without addresses, or without one of that kind, as unresolved', () => {
    const { params, unresolved } = resolveParams(
      { DB_HOST: { ref: 'db', field: 'address' }, CACHE_PUBLIC: { ref: 'cache', field: 'publicAddress' }, MODE: 'x' },
      (assembly) => (assembly === 'cache' ? [fixed('10.0.0.7')] : undefined),
    );
    expect(params).toEqual({ MODE: 'x' });
    expect(unresolved).toEqual([
      { param: 'DB_HOST', ref: 'db', field: 'address' },
      { param: 'CACHE_PUBLIC', ref: 'cache', field: 'publicAddress' },
    ]);
  });
});

describe('agentConfigFor', () => {
  const base = { brokerUrl: 'amqp://agent:pw@broker.example:5672', exchange: 'defib.agents', agentSecret: TEST_AGENT_SECRET, deployableId: randomUUID() };

  it('writes JSON text the agent protocol reads back, with the assembly, heartbeat and resources', () => {
    const assemblyId = randomUUID();
    const { userData, unresolved } = agentConfigFor({ ...base, assemblyId, assembly: webWith({ DB_HOST: { ref: 'db', field: 'address' }, MODE: 'ha' }), addressesOf: () => [fixed('10.0.0.5')] });
    expect(userData.startsWith('{')).toBe(true);
    expect(decodeAgentConfig(userData)).toEqual({
      protocol: 1,
      brokerUrl: base.brokerUrl,
      exchange: 'defib.agents',
      deployableId: base.deployableId,
      assemblyId,
      key: encodeAgentKey(deriveAgentKey(TEST_AGENT_SECRET, assemblyId)),
      assembly: 'web',
      heartbeatIntervalMs: 500,
      resources: [{ name: 'httpd', monitorIntervalMs: 3_000, monitorTimeoutMs: 1_000, params: { DB_HOST: '10.0.0.5', MODE: 'ha' } }],
    });
    expect(unresolved).toEqual([]);
  });

  it('leaves an unresolved parameter out and names its resource', () => {
    const { userData, unresolved } = agentConfigFor({ ...base, assemblyId: randomUUID(), assembly: webWith({ DB_HOST: { ref: 'db', field: 'address' } }), addressesOf: () => undefined });
    expect(decodeAgentConfig(userData).resources).toEqual([{ name: 'httpd', monitorIntervalMs: 3_000, monitorTimeoutMs: 1_000 }]);
    expect(unresolved).toEqual([{ resource: 'httpd', param: 'DB_HOST', ref: 'db' }]);
  });

  it('gives every assembly its own key', () => {
    const assembly = webWith({});
    const keyOf = (assemblyId: string) => decodeAgentConfig(agentConfigFor({ ...base, assemblyId, assembly, addressesOf: () => undefined }).userData).key;
    const first = randomUUID();
    expect(keyOf(first)).toBe(encodeAgentKey(deriveAgentKey(TEST_AGENT_SECRET, first)));
    expect(keyOf(first)).not.toBe(keyOf(randomUUID()));
  });

  it('refuses a configuration that would not fit in user data', () => {
    const params = Object.fromEntries(Array.from({ length: 8 }, (_, index) => [`BIG_${index}`, 'x'.repeat(4_000)]));
    expect(() => agentConfigFor({ ...base, assemblyId: randomUUID(), assembly: webWith(params), addressesOf: () => undefined })).toThrow(/user data allows/);
  });
});
