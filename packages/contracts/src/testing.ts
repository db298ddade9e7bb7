/**
 * Fixture factories for tests across the monorepo (`@defib/contracts/testing`); never imported
 * by service code.
 */
import { deriveAgentKey, encodeAgentKey } from './agent-signature.ts';
import type { AgentKey } from './agent-signature.ts';
import { DocumentError } from './yaml-document.ts';

/** The installation secret (`DEFIB_AGENT_SECRET`) of tests: agent keys in fixtures derive from it. */
export const TEST_AGENT_SECRET = Buffer.alloc(32, 0x5e);

/** An assembly's key under {@link TEST_AGENT_SECRET}. */
export function testAgentKey(assemblyId: string): AgentKey {
  return deriveAgentKey(TEST_AGENT_SECRET, assemblyId);
}

/** The same key as an agent configuration carries it (base64). */
export function testAgentKeyText(assemblyId: string): string {
  return encodeAgentKey(testAgentKey(assemblyId));
}

/** A manifest input as a user writes it, loosely typed so tests can break it on purpose. */
export type ManifestFixture = Record<string, unknown> & { assemblies: Record<string, unknown>[] };

/** The brief's example manifest, with the image and flavor `web` needs to be valid. */
export function wordpressManifest(overrides: Record<string, unknown> = {}): ManifestFixture {
  return {
    apiVersion: 'defib/v1',
    kind: 'Deployable',
    name: 'wordpress',
    cloud: 'sim-openstack',
    escalation: { maxFailures: 2, window: '30m' },
    assemblies: [
      {
        name: 'db',
        image: 'fedora-40',
        flavor: 'm1.small',
        heartbeat: { interval: '1s', missed: 3 },
        escalation: { maxRecoveries: 3, window: '15m', ladder: ['reboot', 'hard-reboot', 'recreate'] },
        resources: [{ name: 'mysqld', monitor: { interval: '2s', timeout: '1s' }, escalation: { maxRestarts: 3, window: '5m' } }],
      },
      {
        name: 'web',
        image: 'fedora-40',
        flavor: 'm1.small',
        dependsOn: ['db'],
        resources: [{ name: 'httpd', params: { DB_HOST: { ref: 'db', field: 'address' } } }],
      },
    ],
    ...overrides,
  };
}

/** The `DocumentError` that `action` throws (any other outcome fails the test). */
export function documentErrorOf(action: () => unknown): DocumentError {
  try {
    action();
  } catch (error) {
    if (error instanceof DocumentError) return error;
    throw error;
  }
  throw new Error('no DocumentError was thrown');
}
