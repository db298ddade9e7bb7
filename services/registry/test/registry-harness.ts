/**
 * Runs a real registry for integration tests: its own database and bus prefix, a spy queue that
 * records every event published, and clean-up of everything afterwards.
 */
import { randomBytes } from 'node:crypto';
import {
  apiClient,
  captureLogs,
  cleanUpServiceBus,
  createIsolatedBus,
  createIsolatedDatabase,
  startEventSpy,
  testServiceConfig,
  type ApiClient,
  type EventSpy,
  type IsolatedBus,
  type IsolatedDatabase,
} from '../../../test/support/index.ts';
import { createRegistryService, type RegistryService, type RegistryServiceOptions } from '../src/registry-service.ts';
import type { RegistryConfig } from '../src/config.ts';

export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const READ_TOKEN = 'read-token-0123456789abcdef';
export const SERVICE_TOKEN = 'service-token-0123456789abcdef';

export interface RegistryHarness extends ApiClient, Omit<EventSpy, 'close'> {
  url: string;
  service: RegistryService;
  config: RegistryConfig;
  /** Every log line the registry wrote. */
  logs: string[];
  restart(options?: RegistryServiceOptions): Promise<void>;
  close(): Promise<void>;
}

export async function startRegistry(options: RegistryServiceOptions = {}): Promise<RegistryHarness> {
  const database: IsolatedDatabase = await createIsolatedDatabase();
  const isolatedBus: IsolatedBus = createIsolatedBus();
  const logs: string[] = [];
  const logger = captureLogs('registry', logs);
  const config: RegistryConfig = {
    ...testServiceConfig(database, isolatedBus, {
      databasePoolSize: 20,
      auth: { adminToken: ADMIN_TOKEN, readTokens: [READ_TOKEN], serviceTokens: [SERVICE_TOKEN], openReads: false },
      shutdownGraceMs: 2_000,
    }),
    secretKey: randomBytes(32).toString('base64'),
    unactedStartAfterMs: 300,
    cloudCheckTimeoutMs: 2_000,
  };
  const spy = await startEventSpy(isolatedBus);

  let service = createRegistryService(config, { logger, ...options });
  let url = (await service.start()).url;

  const client = apiClient(() => url, ADMIN_TOKEN);
  return {
    get url() {
      return url;
    },
    get service() {
      return service;
    },
    config,
    logs,
    events: spy.events,
    publish: spy.publish,
    eventMatching: spy.eventMatching,
    request: client.request,
    json: client.json,
    async restart(restartOptions = {}) {
      await service.stop();
      service = createRegistryService(config, { logger, ...restartOptions });
      url = (await service.start()).url;
    },
    async close() {
      await service.stop();
      await spy.close();
      await cleanUpServiceBus(isolatedBus, ['registry']);
      await database.drop();
    },
  };
}

export { wordpressManifest } from '@defib/contracts/testing';

export const openstackCloud = {
  provider: 'openstack',
  authUrl: 'http://127.0.0.1:7200/identity/v3',
  region: 'RegionOne',
  credentials: { username: 'admin', password: 'very-secret-password', project: 'admin', domain: 'Default' },
};

export const ec2Cloud = {
  provider: 'ec2',
  endpoint: 'http://127.0.0.1:7200/ec2/',
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIAEXAMPLEKEY12345', secretAccessKey: 'ec2-secret-access-key-value' },
};
