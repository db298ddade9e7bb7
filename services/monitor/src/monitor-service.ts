/**
 * The monitor's composition root: kernel (database, bus, outbox, HTTP) → cloud connections and
 * drivers → the detector on a timer wheel, its guards and the cloud watch → the verdict desk, the
 * shard leases and the watch sync → the agent channel's heartbeats, the event intake, the routes.
 */
import { cloudConnectionHandlers, CloudConnectionUnavailable, cloudDriverFactory, CloudError, CloudNotRegistered, createCloudConnections, registryConnectionSource } from '@defib/clouds';
import type { Heartbeat } from '@defib/contracts';
import {
  AgentChannel,
  createLeaseClient,
  createServiceKernel,
  periodicWorker,
  RealClock,
  SecretBox,
  TimerWheel,
  uniqueHolderId,
  type BackgroundWorker,
  type Clock,
  type Logger,
} from '@defib/platform';
import { CloudReachability } from './cloud-reachability.ts';
import { CloudWatch } from './cloud-watch.ts';
import type { MonitorConfig } from './config.ts';
import { DisruptionGuard } from './disruption-guard.ts';
import { LivenessDetector, type LivenessSummary } from './liveness-detector.ts';
import { createMonitorMetrics } from './monitor-metrics.ts';
import { monitorMigrations } from './migrations.ts';
import { monitorRoutes } from './routes.ts';
import { SelfLagGuard } from './self-lag-guard.ts';
import { ShardLeases } from './shard-leases.ts';
import type { MonitorTables } from './tables.ts';
import { looksDown, VerdictDesk } from './verdict-desk.ts';
import { watchIntakeHandlers } from './watch-intake.ts';
import { WATCH_CHANNEL, watchRepository } from './watch.repository.ts';
import { WatchSync, type WatchTarget } from './watch-sync.ts';
import type { AssemblyLiveness, CloudView, LivenessObservation } from './watch.ts';

export const MONITOR_VERSION = '0.1.0';

/** The one replica that lists the clouds (their APIs are rate-limited; every replica reads the result). */
const CLOUD_POLL_LEASE = 'monitor-cloud-poll';
const CENSUS_INTERVAL_MS = 100;
const QUEUE_SAMPLE_INTERVAL_MS = 1_000;
const RESYNC_INTERVAL_MS = 5_000;
const VERDICT_RETENTION_MS = 86_400_000;
const CONFIRM_CONCURRENCY = 16;
/** Pings to silent assemblies in flight at once; more silence than this is the guards' to judge. */
const MAX_PROBES = 200;

export interface MonitorServiceOptions {
  logger?: Logger;
  clock?: Clock;
  /** Off to stand in for a process that dies between commit and publish. */
  relayOutbox?: boolean;
  /** Hears every observation the detector makes (tests, benchmarks). */
  onObservation?: (observation: LivenessObservation) => void;
}

export function createMonitorService(config: MonitorConfig, options: MonitorServiceOptions = {}) {
  const kernel = createServiceKernel<MonitorTables>({
    name: 'monitor',
    version: MONITOR_VERSION,
    config,
    migrations: monitorMigrations,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.relayOutbox === undefined ? {} : { relayOutbox: options.relayOutbox }),
  });
  const { db } = kernel.database;
  const { logger } = kernel;
  const clock = options.clock ?? new RealClock();
  const replicaId = config.replicaId ?? uniqueHolderId();
  const leases = createLeaseClient({ db, holder: replicaId, ttlMs: config.leaseMs, clock });
  const wheel = new TimerWheel(clock, { tickMs: 10, onError: (error) => logger.error({ err: error }, 'a liveness check failed') });

  const connections = createCloudConnections({ db, source: registryConnectionSource(config.clouds), secrets: SecretBox.fromBase64(config.secretKey), logger, clock });
  // A poll gives up within a few intervals: the next one tries again, and a cloud that keeps failing is reported.
  const drivers = cloudDriverFactory({ logger, metrics: kernel.metrics, clock, policy: { budgetMs: Math.max(3 * config.cloudPollIntervalMs, 2_000) } });
  const driverFor = async (cloud: string) => drivers(cloud, await connections.get(cloud));

  // Parts that call each other refer to those built after them only from callbacks, run once all are built.

  const lagGuard = new SelfLagGuard({
    clock,
    maxLagMs: config.lag.maxLagMs,
    maxStallMs: config.lag.maxLagMs,
    maxQueueDepth: config.lag.maxQueueDepth,
    silentShare: config.disruption.threshold,
    settleMs: config.lag.settleMs,
    onChange(change) {
      if (change.degraded) {
        logger.warn({ lagMs: change.lagMs, detail: change.detail }, 'the monitor lags: silence verdicts are held');
        desk.monitorChanged({ degraded: true, cause: 'lagging', lagMs: change.lagMs, detail: change.detail });
      } else {
        logger.info({ degradedForMs: change.degradedForMs }, 'the monitor keeps up again: every silent assembly gets one more timeout');
        detector.grace(clock.now());
        desk.monitorChanged({ degraded: false, cause: 'lagging', degradedForMs: change.degradedForMs });
      }
    },
  });

  const groupOf = (liveness: Pick<AssemblyLiveness, 'spec' | 'instanceId'>): string => {
    const zone = liveness.instanceId === undefined ? undefined : sync.view(liveness.instanceId)?.zone;
    return zone === undefined ? liveness.spec.cloud : `${liveness.spec.cloud}/${zone}`;
  };

  /** Confirms a silence inside a disrupted group: the agent's own answer first, then the cloud's. */
  const confirmations: { assemblyId: string; cloud: string; instanceId: string | undefined }[] = [];
  let confirming = 0;
  const confirmNext = (): void => {
    while (confirming < CONFIRM_CONCURRENCY && confirmations.length > 0) {
      const request = confirmations.shift();
      if (request === undefined) break;
      confirming++;
      void confirm(request)
        .then((outcome) => disruption.confirmed(request.assemblyId, outcome))
        .catch(() => disruption.confirmed(request.assemblyId, 'unknown'))
        .finally(() => {
          confirming--;
          confirmNext();
        });
    }
  };
  const confirm = async (request: { assemblyId: string; cloud: string; instanceId: string | undefined }): Promise<'failed' | 'alive' | 'unknown'> => {
    try {
      const reply = await agents.ping(request.assemblyId, { timeoutMs: config.pingTimeoutMs });
      if (request.instanceId === undefined || reply.instanceId === request.instanceId) return 'alive';
    } catch {
      // No answer: ask the cloud.
    }
    if (request.instanceId === undefined) return 'unknown';
    const view = await cloudWatch.look(request.cloud, request.instanceId, config.cloudLookTimeoutMs);
    if (view === undefined) return 'unknown';
    sync.rememberView(view);
    return looksDown(view) ? 'failed' : 'unknown';
  };

  const disruption = new DisruptionGuard({
    clock,
    threshold: config.disruption.threshold,
    minGroupSize: config.disruption.minGroupSize,
    releasePerSecond: config.disruption.releasePerSecond,
    largeGroupSize: 50,
    recheckMs: 500,
    confirm(request) {
      confirmations.push(request);
      confirmNext();
    },
    onChange(change) {
      logger.warn(change, change.disrupted ? 'a whole group of assemblies fell silent: treated as a monitoring-path failure until the cloud or the agents say otherwise' : 'the group beats again');
    },
  });

  const detector = new LivenessDetector({
    clock,
    wheel,
    bootGraceMs: config.bootGraceMs,
    gate(liveness, now) {
      if (lagGuard.degraded) return { verdict: 'hold', recheckMs: 250 };
      return disruption.gate(liveness, groupOf(liveness), now);
    },
    onObservation(observation) {
      options.onObservation?.(observation);
      desk.observe(observation);
    },
  });

  const metrics = createMonitorMetrics(kernel.metrics, {
    counts: () => detector.counts(),
    lagMs: () => lagGuard.lagMs,
    degraded: () => lagGuard.degraded,
    heldShards: () => shards.heldShards().length,
    backlog: () => desk.backlog,
  });

  const shards = new ShardLeases({ db, leases, shards: config.shards, leaseMs: config.leaseMs, logger, onAcquired: (shard) => desk.acquired(shard) });

  const target: WatchTarget = {
    watch: (spec, current) => detector.watch(spec, current),
    launched: (assemblyId, instanceId, addresses, launchedAt) => detector.launched(assemblyId, instanceId, addresses, launchedAt),
    idle: (assemblyId) => detector.idle(assemblyId),
    liveness: (assemblyId) => detector.liveness(assemblyId),
    unwatch(assemblyId) {
      detector.unwatch(assemblyId);
      disruption.forget(assemblyId);
    },
  };
  const sync = new WatchSync({ db, target, clock, logger, bootGraceMs: config.bootGraceMs, onView: (view) => desk.cloudView(view) });

  const desk = new VerdictDesk({
    db,
    outbox: kernel.outbox,
    shards,
    liveness: detector,
    viewOf: (instanceId) => sync.view(instanceId),
    assemblyOf: (instanceId) => sync.assemblyOf(instanceId),
    async look(cloud, instanceId) {
      const view = await cloudWatch.look(cloud, instanceId, config.cloudLookTimeoutMs);
      if (view !== undefined) sync.rememberView(view);
      return view;
    },
    clock,
    logger,
    metrics,
    replicaId,
    pendingTtlMs: 3 * config.leaseMs,
    freshViewMs: config.cloudPollIntervalMs,
  });

  const reachability = new CloudReachability({
    clock,
    unreachableAfterMs: 3 * config.cloudPollIntervalMs,
    onChange(change) {
      if (change.unreachable) desk.monitorChanged({ degraded: true, cause: 'cloud-unreachable', cloud: change.cloud, detail: change.detail });
      else desk.monitorChanged({ degraded: false, cause: 'cloud-unreachable', cloud: change.cloud, degradedForMs: change.unreachableForMs });
    },
  });

  // The cloud watch runs on the replica holding the poll lease; what it sees goes to the table every replica follows.
  let polling: Awaited<ReturnType<typeof leases.acquire>>;
  const cloudWatch = new CloudWatch({
    clock,
    logger,
    driverFor,
    intervalMs: config.cloudPollIntervalMs,
    targets() {
      if (polling === undefined || polling.actUntil <= clock.now()) return new Map();
      const expected = sync.expectedInstances();
      for (const cloud of sync.clouds()) if (!expected.has(cloud)) expected.set(cloud, new Set());
      return expected;
    },
    onView: (view: CloudView) => {
      viewsToSave.push(view);
      saveViewsSoon();
    },
    onPollFailed(cloud, error) {
      // A cloud that does not answer says nothing about its VMs (the cloud watch logs the failure).
      reachability.failed(cloud, error instanceof CloudError || error instanceof CloudNotRegistered || error instanceof CloudConnectionUnavailable ? error.message : 'the cloud could not be listed');
    },
    onPollSucceeded(cloud) {
      reachability.succeeded(cloud);
    },
  });
  const viewsToSave: CloudView[] = [];
  let saving: Promise<void> | undefined;
  const saveViewsSoon = (): void => {
    saving ??= (async () => {
      try {
        while (viewsToSave.length > 0) {
          const batch = viewsToSave.splice(0, 1_000);
          await watchRepository.saveViews(db, batch).catch((error: unknown) => {
            logger.warn({ err: error }, 'could not record cloud views; trying again at the next poll');
          });
        }
      } finally {
        saving = undefined;
      }
    })();
  };

  const agents = new AgentChannel({
    url: config.amqpUrl,
    prefix: config.busPrefix,
    // Every replica gets every heartbeat: a queue of its own, gone a minute after it dies.
    consumer: `monitor.${replicaId.replace(/[^A-Za-z0-9_.-]/g, '-')}`,
    connectionName: `defib-monitor-agents ${replicaId} ${config.busPrefix}`,
    logger,
    agentSecret: config.agentSecret,
    knowsAssembly: (assemblyId) => detector.has(assemblyId),
    clock,
    registry: kernel.metrics,
    queueExpiresMs: 60_000,
    // A beat half a minute old says nothing, and a deep queue makes the broker itself slow (a
    // classic queue's cost per message grows with its depth): past twice the depth at which the
    // monitor calls itself lagging, the oldest beats are dropped.
    heartbeatTtlMs: 30_000,
    heartbeatQueueLimit: Math.max(1_000, 2 * config.lag.maxQueueDepth),
  });
  agents.onHeartbeat((beat: Heartbeat) => {
    const receivedAt = clock.now();
    const outcome = detector.heartbeat(beat, receivedAt);
    metrics.heartbeat(outcome);
    if (outcome === 'accepted') lagGuard.beat(beat.sentAt, receivedAt, beat.assemblyId);
  });

  kernel.consume({ ...watchIntakeHandlers(), ...cloudConnectionHandlers(connections) });

  /**
   * Every 100 ms: how late this tick ran (a stalled event loop), and how many assemblies fell
   * silent together, overall and per group: those late now (held ones stay late) and those judged
   * unresponsive within the last timeout; assemblies judged earlier count for neither side.
   */
  let censusTimer: NodeJS.Timeout | undefined;
  let censusDueAt = 0;
  const census = (): void => {
    const now = clock.now();
    lagGuard.loopTick(censusDueAt, now);
    censusDueAt = now + CENSUS_INTERVAL_MS;
    const groups = new Map<string, { expected: number; silent: number }>();
    let expected = 0;
    let silent = 0;
    for (const liveness of detector.summaries()) {
      if (liveness.state === 'idle' || liveness.state === 'failed' || liveness.state === 'booting') continue;
      if (liveness.state === 'alive' || liveness.state === 'suspect') probe(liveness, now);
      // A silence judged a while ago is old news, not part of what fell silent together now.
      if (liveness.state === 'unresponsive' && now - liveness.stateSince > (liveness.spec.missed + 1) * liveness.spec.intervalMs) continue;
      // Nor is one the cloud explains (the VM is down or impaired): that is no monitoring fault.
      const view = liveness.instanceId === undefined ? undefined : sync.view(liveness.instanceId);
      if (view !== undefined && view.observedAt >= (liveness.lastBeatAt ?? 0) && looksDown(view)) continue;
      const group = groupOf(liveness);
      let counts = groups.get(group);
      if (counts === undefined) groups.set(group, (counts = { expected: 0, silent: 0 }));
      counts.expected++;
      expected++;
      if (liveness.state === 'suspect' || liveness.state === 'unresponsive') {
        counts.silent++;
        silent++;
      }
    }
    for (const [group, counts] of groups) disruption.update(group, counts.expected, counts.silent);
    lagGuard.silence(expected, silent);
    desk.recheck();
  };
  /**
   * Heartbeats get lost (a network blip, a broker restart); an agent that answers a `ping` is alive
   * all the same. So half an interval before its silence would become a verdict, an assembly whose
   * beats stopped is pinged once: an answer counts as liveness, no answer changes nothing (a dead
   * VM is judged at its timeout as before). Beats missing from everyone at once are the guards'
   * business, not this probe's.
   */
  const probed = new Map<string, number>();
  let probing = 0;
  const probe = (liveness: LivenessSummary, now: number): void => {
    const { dueAt, lastBeatAt, instanceId, spec } = liveness;
    if (dueAt === undefined || lastBeatAt === undefined || instanceId === undefined) return;
    if (now < dueAt - Math.min(spec.intervalMs / 2, 1_000) || probed.get(spec.assemblyId) === lastBeatAt) return;
    if (lagGuard.degraded || probing >= MAX_PROBES || !agents.connected) return;
    probed.set(spec.assemblyId, lastBeatAt);
    probing++;
    agents
      .ping(spec.assemblyId, { timeoutMs: Math.max(50, dueAt - now) })
      .then((reply) => {
        if (detector.answered(spec.assemblyId, reply, clock.now())) metrics.probe('answered');
        else metrics.probe('not-current');
      })
      .catch(() => metrics.probe('silent'))
      .finally(() => {
        probing--;
        if (probed.get(spec.assemblyId) === lastBeatAt) probed.delete(spec.assemblyId);
      });
  };

  const censusWorker: BackgroundWorker = {
    name: 'census',
    start() {
      censusDueAt = clock.now() + CENSUS_INTERVAL_MS;
      censusTimer = setInterval(census, CENSUS_INTERVAL_MS);
      censusTimer.unref();
      lagGuard.start();
    },
    stop() {
      clearInterval(censusTimer);
      lagGuard.stop();
    },
  };
  const queueSampler = periodicWorker({
    name: 'queue-depth',
    intervalMs: QUEUE_SAMPLE_INTERVAL_MS,
    logger,
    async run() {
      const depth = await agents.queueDepth();
      if (depth !== undefined) lagGuard.queueDepth(depth);
    },
  });
  const pollLease = periodicWorker({
    name: 'cloud-poll-lease',
    intervalMs: Math.max(250, Math.floor(config.leaseMs / 4)),
    logger,
    async run() {
      polling = polling === undefined ? await leases.acquire(CLOUD_POLL_LEASE) : await leases.renew(polling).catch(() => undefined);
    },
  });
  const resync = periodicWorker({ name: 'watch-resync', intervalMs: RESYNC_INTERVAL_MS, logger, run: () => sync.sync() });
  const pruner = periodicWorker({ name: 'verdict-pruner', intervalMs: 3_600_000, logger, run: () => watchRepository.prune(db, VERDICT_RETENTION_MS) });

  // Started in this order and stopped in the reverse one.
  const startWorkers: BackgroundWorker[] = [
    {
      name: 'timer-wheel',
      start: () => undefined,
      stop() {
        wheel.stop();
        drivers.close();
      },
    },
    // What to watch comes first, so the first heartbeat finds its assembly.
    { name: 'watch-sync', start: () => sync.sync(), stop: () => undefined },
    kernel.listen(WATCH_CHANNEL, () => void sync.sync().catch((error: unknown) => logger.warn({ err: error }, 'could not follow the watch tables; trying again'))),
    resync,
    // The desk writes what it holds before the shards are given back.
    { name: 'shard-leases', start: () => shards.start(), stop: () => shards.stop() },
    { name: 'verdict-desk', start: () => desk.start(), stop: () => desk.stop() },
    censusWorker,
    { name: 'agent-channel', start: () => agents.start(), stop: () => agents.close() },
    queueSampler,
    pollLease,
    { name: 'cloud-watch', start: () => cloudWatch.start(), stop: () => cloudWatch.stop() },
    pruner,
  ];

  const routes = monitorRoutes({
    deployableByName: (name) => sync.deployableByName(name),
    deployable: (id) => sync.deployable(id),
    liveness: (id) => detector.liveness(id),
    watcherOf: (deployableId) => shards.watcherOf(deployableId),
    replicaId,
    degraded: () => lagGuard.degraded,
  });

  return {
    kernel,
    replicaId,
    detector,
    desk,
    shards,
    sync,
    cloudWatch,
    lagGuard,
    disruption,
    agents,
    start: () =>
      kernel.start({
        routes,
        openapi: { title: 'Defib monitor', description: 'Heartbeat liveness, cloud watch and failure verdicts: what the monitor sees of each deployable now.' },
        workers: startWorkers,
        readiness: [
          {
            name: 'heartbeats',
            check() {
              if (!agents.connected) return Promise.reject(new Error('the agent channel is not connected'));
              if (lagGuard.degraded) return Promise.reject(new Error(lagGuard.reason ?? 'the monitor lags behind the heartbeats'));
              return Promise.resolve();
            },
          },
        ],
      }),
    stop: () => kernel.stop(),
  };
}

export type MonitorService = ReturnType<typeof createMonitorService>;
