/**
 * Recovery's composition root: kernel (database, bus, outbox, HTTP) → cloud connections and
 * drivers, the agent channel (commands and pings) → the hands (every action on a cloud or an
 * agent) and the per-cloud action slots → the keepers and their scheduler → the intake (events in)
 * and the incident routes.
 */
import { cloudConnectionHandlers, cloudDriverFactory, createCloudConnections, registryConnectionSource } from '@defib/clouds';
import { AgentChannel, busNames, createLeaseClient, createServiceKernel, RealClock, SecretBox, uniqueHolderId, type Clock, type Logger } from '@defib/platform';
import { ActionSlots } from './action-slots.ts';
import type { RecoveryConfig } from './config.ts';
import { DeployableKeeper, WorkScheduler } from './deployable-keeper.ts';
import { RecoveryHands } from './hands.ts';
import { incidentRoutes } from './incident-routes.ts';
import { intakeHandlers, WORK_CHANNEL } from './intake.ts';
import { recoveryMigrations } from './migrations.ts';
import { createRecoveryMetrics } from './recovery-metrics.ts';
import type { IncidentRow, RecoveryTables } from './tables.ts';

export const RECOVERY_VERSION = '0.1.0';
const POLL_MS = 250;

export interface RecoveryServiceOptions {
  logger?: Logger;
  clock?: Clock;
  /** Off to stand in for a process that dies between commit and publish. */
  relayOutbox?: boolean;
  /** Hears the first cloud or agent action of every step (benchmarks: failure event → first action). */
  onAction?: (incident: IncidentRow | undefined) => void;
}

export function createRecoveryService(config: RecoveryConfig, options: RecoveryServiceOptions = {}) {
  const kernel = createServiceKernel<RecoveryTables>({
    name: 'recovery',
    version: RECOVERY_VERSION,
    config,
    migrations: recoveryMigrations,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.relayOutbox === undefined ? {} : { relayOutbox: options.relayOutbox }),
  });
  const { db } = kernel.database;
  const { logger } = kernel;
  const clock = options.clock ?? new RealClock();
  const replicaId = config.replicaId ?? uniqueHolderId();
  const leases = createLeaseClient({ db, holder: replicaId, ttlMs: config.leaseMs, clock });

  const connections = createCloudConnections({ db, source: registryConnectionSource(config.clouds), secrets: SecretBox.fromBase64(config.secretKey), logger, clock });
  const drivers = cloudDriverFactory({ logger, metrics: kernel.metrics, clock, policy: { budgetMs: config.cloudRetryBudgetMs } });
  const agents = new AgentChannel({
    url: config.amqpUrl,
    prefix: config.busPrefix,
    // Replies come back to the replica that sent the command: a queue of its own, gone a minute after it dies.
    consumer: `recovery.${replicaId.replace(/[^A-Za-z0-9_.-]/g, '-')}`,
    connectionName: `defib-recovery-agents ${replicaId} ${config.busPrefix}`,
    logger,
    agentSecret: config.agentSecret,
    clock,
    registry: kernel.metrics,
    queueExpiresMs: 60_000,
  });
  const hands = new RecoveryHands({
    driverFor: async (cloud) => drivers(cloud, await connections.get(cloud)),
    agents,
    clock,
    bootTimeoutMs: config.bootTimeoutMs,
    commandTimeoutMs: config.commandTimeoutMs,
    verifyIntervalMs: config.verifyIntervalMs,
    fenceTimeoutMs: config.fenceTimeoutMs,
    logger,
  });
  const slots = new ActionSlots((cloud) => config.cloudActions.byCloud[cloud] ?? config.cloudActions.default);
  // Built before the scheduler it reads: `held` is asked only when metrics are scraped.
  const metrics = createRecoveryMetrics(kernel.metrics, {
    held: () => scheduler.held,
    slots,
    openIncidents: async () => Number((await db.selectFrom('incidents').select((eb) => eb.fn.countAll<string>().as('open')).where('status', '<>', 'closed').executeTakeFirstOrThrow()).open),
  });
  const scheduler = new WorkScheduler({
    db,
    leases,
    logger,
    maxDeployables: config.maxDeployables,
    pollMs: POLL_MS,
    keeper: (lease, deployableId, onDone) =>
      new DeployableKeeper(
        {
          db,
          outbox: kernel.outbox,
          logger,
          clock,
          leases,
          leaseMs: config.leaseMs,
          hands,
          slots,
          agent: { brokerUrl: config.agentBrokerUrl, exchange: busNames(config.busPrefix).agentsExchange, secret: config.agentSecret },
          bootTimeoutMs: config.bootTimeoutMs,
          retry: config.retry,
          metrics,
          ...(options.onAction === undefined ? {} : { onAction: options.onAction }),
        },
        lease,
        deployableId,
        onDone,
      ),
  });

  kernel.consume({ ...intakeHandlers({ outbox: kernel.outbox }), ...cloudConnectionHandlers(connections) });

  return {
    kernel,
    replicaId,
    scheduler,
    slots,
    agents,
    start: () =>
      kernel.start({
        routes: incidentRoutes(db),
        openapi: { title: 'Defib recovery', description: 'Incidents and their step timelines: what recovery did about each failure, and why.' },
        workers: [
          { name: 'agent-channel', start: () => agents.start(), stop: () => agents.close() },
          kernel.listen(WORK_CHANNEL, () => scheduler.wake()),
          { name: 'work-scheduler', start: () => scheduler.start(), stop: () => scheduler.stop() },
          { name: 'cloud-drivers', start: () => undefined, stop: () => drivers.close() },
        ],
        readiness: [{ name: 'agent-channel', check: () => (agents.connected ? Promise.resolve() : Promise.reject(new Error('the agent channel is not connected'))) }],
      }),
    stop: () => kernel.stop(),
  };
}

export type RecoveryService = ReturnType<typeof createRecoveryService>;
