/**
 * The registry's composition root: kernel (database, bus, outbox, HTTP) → repositories and
 * catalogues → routes and the status projection's consumer.
 */
import { validateManifest, type DomainEvent, type Manifest } from '@defib/contracts';
import { cloudDriverFactory } from '@defib/clouds';
import { createServiceKernel, type Logger, periodicWorker, SecretBox } from '@defib/platform';
import { createCloudChecks } from './cloud-checks.ts';
import { createCloudCatalogue } from './clouds.ts';
import type { RegistryConfig } from './config.ts';
import { createDeployableCatalogue } from './deployables.ts';
import { createMaintenanceDesk } from './maintenance.ts';
import { registryMigrations } from './migrations.ts';
import { registryRoutes } from './routes.ts';
import { readStatus, statusProjectionHandlers } from './status-projection.ts';
import type { RegistryTables } from './tables.ts';

export const REGISTRY_VERSION = '0.1.0';

/** How often maintenance whose `until` passed is ended: it ends at most this late. */
export const MAINTENANCE_EXPIRY_INTERVAL_MS = 1_000;

export interface RegistryServiceOptions {
  logger?: Logger;
  /** Off to stand in for a process that dies between commit and publish. */
  relayOutbox?: boolean;
  /** Called after each consumed event is projected (tests wait on it). */
  onProjected?: (event: DomainEvent) => void;
  /** How often expired maintenance is ended; {@link MAINTENANCE_EXPIRY_INTERVAL_MS} unless a test needs it sooner. */
  maintenanceExpiryIntervalMs?: number;
}

function parseStoredManifest(stored: unknown): Manifest {
  const result = validateManifest(stored);
  if (!result.ok) throw new Error(`stored manifest no longer validates: ${result.issues.map((issue) => `${issue.path} ${issue.message}`).join('; ')}`);
  return result.manifest;
}

export function createRegistryService(config: RegistryConfig, options: RegistryServiceOptions = {}) {
  const kernel = createServiceKernel<RegistryTables>({
    name: 'registry',
    version: REGISTRY_VERSION,
    config,
    migrations: registryMigrations,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.relayOutbox === undefined ? {} : { relayOutbox: options.relayOutbox }),
  });
  const { db } = kernel.database;
  const clouds = createCloudCatalogue(db, kernel.outbox, SecretBox.fromBase64(config.secretKey));
  const deployables = createDeployableCatalogue(db, kernel.outbox, parseStoredManifest);
  const now = () => new Date();
  const maintenance = createMaintenanceDesk(db, kernel.outbox, now);
  const maintenanceExpiry = periodicWorker({
    name: 'maintenance-expiry',
    intervalMs: options.maintenanceExpiryIntervalMs ?? MAINTENANCE_EXPIRY_INTERVAL_MS,
    logger: kernel.logger,
    run: async () => void (await maintenance.expire()),
  });
  // An interactive check: one attempt within the timeout; a cloud that does not answer gets a warning, not a wait.
  const drivers = cloudDriverFactory({ logger: kernel.logger, metrics: kernel.metrics, policy: { attemptTimeoutMs: config.cloudCheckTimeoutMs, maxAttempts: 1, budgetMs: config.cloudCheckTimeoutMs } });
  const routes = registryRoutes({
    clouds,
    checks: createCloudChecks(drivers),
    deployables,
    maintenance,
    unactedStartAfterMs: config.unactedStartAfterMs,
    now,
    async status(name, recentLimit) {
      return readStatus(db, await deployables.get(name), recentLimit);
    },
  });

  kernel.consume(statusProjectionHandlers(), { onHandled: (event) => options.onProjected?.(event) });

  return {
    kernel,
    clouds,
    deployables,
    maintenance,
    start: () =>
      kernel.start({
        routes,
        workers: [maintenanceExpiry],
        openapi: { title: 'Defib registry', description: 'Clouds, deployables and their observed status.' },
      }),
    async stop() {
      await kernel.stop();
      drivers.close();
    },
  };
}

export type RegistryService = ReturnType<typeof createRegistryService>;
