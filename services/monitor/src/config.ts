/** The monitor's environment: the shared service variables, the agent secret, the cloud connections and the detection settings. */
import { makeDurationSchema } from '@defib/contracts';
import { cloudConnectionEnvironmentShape, toCloudConnectionConfig, type CloudConnectionConfig } from '@defib/clouds';
import { agentSecretVariable, loadConfig, secretKeyVariable, serviceEnvironmentShape, toServiceConfig, type Environment, type ServiceConfig } from '@defib/platform';
import { z } from 'zod';

const duration = makeDurationSchema();
const share = z.coerce.number({ message: 'must be a number' }).gt(0, 'must be greater than 0').max(1, 'must be at most 1');
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

export const monitorEnvironmentSchema = z
  .object({
    ...serviceEnvironmentShape(7102),
    ...cloudConnectionEnvironmentShape,
    /** 32 random bytes, base64: seals the monitor's copies of cloud credentials. */
    DEFIB_SECRET_KEY: secretKeyVariable,
    /** The installation secret every assembly's agent key derives from; heartbeats are verified with it. */
    DEFIB_AGENT_SECRET: agentSecretVariable,
    /** Names this replica in leases, events and logs; host/pid/random by default. */
    MONITOR_REPLICA_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'must be letters, digits and . _ : / - (at most 128)').optional(),
    /** Extra time a freshly launched VM has before its first heartbeat is due. */
    MONITOR_BOOT_GRACE: duration.default(180_000),
    /** How often each registered cloud is listed. */
    MONITOR_CLOUD_POLL_INTERVAL: duration.default(5_000),
    /** How long a direct look at one VM may take when a verdict is confirmed with the cloud. */
    MONITOR_CLOUD_LOOK_TIMEOUT: duration.default(2_000),
    /** How long an agent has to answer a `ping` when a mass silence is being confirmed. */
    MONITOR_PING_TIMEOUT: duration.default(2_000),
    /** Heartbeats arriving this late (or the event loop stalling this long) mean the monitor lags: it holds verdicts. */
    MONITOR_MAX_LAG: duration.default(1_000),
    /** Heartbeats waiting in the replica's queue beyond which it lags. */
    MONITOR_MAX_QUEUE_DEPTH: wholeNumber(500, 100_000_000).default(10_000),
    /** How long a lagging monitor must be healthy again before it trusts its verdicts. */
    MONITOR_SETTLE: duration.default(2_000),
    /** Share of a cloud's or zone's assemblies falling silent together that is treated as a monitoring-path failure (Kubernetes: 0.55). */
    MONITOR_DISRUPTION_THRESHOLD: share.default(0.55),
    /** Groups smaller than this are never treated as disrupted: their silence is judged VM by VM. */
    MONITOR_DISRUPTION_MIN_GROUP: wholeNumber(1, 1_000_000).default(3),
    /** Unconfirmed verdicts let through per second in a disrupted group larger than 50 (Kubernetes' secondary eviction rate). */
    MONITOR_DISRUPTED_RELEASE_RATE: z.coerce.number({ message: 'must be a number' }).min(0, 'must be at least 0').max(100, 'must be at most 100').default(0.01),
    /** How long a replica's lease on its share of the deployables lasts; another replica takes over within about this long after it dies. */
    MONITOR_LEASE: duration.default(10_000),
    /** How many shards the deployables are split into among replicas. */
    MONITOR_SHARDS: wholeNumber(1, 4_096).default(32),
  })
  .superRefine((env, ctx) => {
    if (env.MONITOR_LEASE < 2_000) ctx.addIssue({ code: 'custom', path: ['MONITOR_LEASE'], message: 'must be at least 2s (it is renewed every quarter of it)' });
  });

export interface MonitorConfig extends ServiceConfig {
  secretKey: string;
  agentSecret: Uint8Array;
  clouds: CloudConnectionConfig;
  replicaId: string | undefined;
  bootGraceMs: number;
  cloudPollIntervalMs: number;
  cloudLookTimeoutMs: number;
  pingTimeoutMs: number;
  lag: { maxLagMs: number; maxQueueDepth: number; settleMs: number };
  disruption: { threshold: number; minGroupSize: number; releasePerSecond: number };
  leaseMs: number;
  shards: number;
}

export function loadMonitorConfig(env: Environment): MonitorConfig {
  const parsed = loadConfig(monitorEnvironmentSchema, env);
  return {
    ...toServiceConfig(parsed),
    secretKey: parsed.DEFIB_SECRET_KEY,
    agentSecret: parsed.DEFIB_AGENT_SECRET,
    clouds: toCloudConnectionConfig(parsed),
    replicaId: parsed.MONITOR_REPLICA_ID,
    bootGraceMs: parsed.MONITOR_BOOT_GRACE,
    cloudPollIntervalMs: parsed.MONITOR_CLOUD_POLL_INTERVAL,
    cloudLookTimeoutMs: parsed.MONITOR_CLOUD_LOOK_TIMEOUT,
    pingTimeoutMs: parsed.MONITOR_PING_TIMEOUT,
    lag: { maxLagMs: parsed.MONITOR_MAX_LAG, maxQueueDepth: parsed.MONITOR_MAX_QUEUE_DEPTH, settleMs: parsed.MONITOR_SETTLE },
    disruption: { threshold: parsed.MONITOR_DISRUPTION_THRESHOLD, minGroupSize: parsed.MONITOR_DISRUPTION_MIN_GROUP, releasePerSecond: parsed.MONITOR_DISRUPTED_RELEASE_RATE },
    leaseMs: parsed.MONITOR_LEASE,
    shards: parsed.MONITOR_SHARDS,
  };
}
