/** Recovery's environment: the shared service variables, the agent secret, the cloud connections and the recovery settings. */
import { makeDurationSchema } from '@defib/contracts';
import { cloudConnectionEnvironmentShape, toCloudConnectionConfig, type CloudConnectionConfig } from '@defib/clouds';
import { agentSecretVariable, loadConfig, secretKeyVariable, serviceEnvironmentShape, toServiceConfig, type Environment, type ServiceConfig } from '@defib/platform';
import { z } from 'zod';

const duration = makeDurationSchema();
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const cloudNamePattern = /^[a-z][a-z0-9-]{0,62}$/;

/** `sim-openstack=20,sim-ec2=5`: concurrent recovery actions per cloud, overriding the default. */
const perCloudActions = z
  .string()
  .transform((text, ctx) => {
    const limits: Record<string, number> = {};
    for (const entry of text.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
      const match = /^([^=\s]+)=(\d{1,6})$/.exec(entry);
      if (match === null || !cloudNamePattern.test(match[1] ?? '') || Number(match[2]) < 1) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" must be <cloud>=<whole number ≥ 1>, e.g. sim-openstack=20` });
        return z.NEVER;
      }
      limits[match[1] as string] = Number(match[2]);
    }
    return limits;
  });

export const recoveryEnvironmentSchema = z
  .object({
    // Many deployables are worked on at once, each with its own short transactions.
    ...serviceEnvironmentShape(7103, { databasePoolSize: 20 }),
    ...cloudConnectionEnvironmentShape,
    /** 32 random bytes, base64: seals recovery's copies of cloud credentials. */
    DEFIB_SECRET_KEY: secretKeyVariable,
    /** The installation secret every assembly's agent key derives from: given to each VM, and commands are signed with it. */
    DEFIB_AGENT_SECRET: agentSecretVariable,
    /**
     * The broker URL the in-guest agents connect to, written into every VM's agent configuration
     * (the services' own `AMQP_URL` by default; set it when VMs reach the broker by another address
     * or with other credentials).
     */
    RECOVERY_AGENT_BROKER_URL: z.url({ protocol: /^amqps?$/, error: 'must be an amqp:// or amqps:// URL' }).optional(),
    /** Names this replica in leases and logs; host/pid/random by default. */
    RECOVERY_REPLICA_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'must be letters, digits and . _ : / - (at most 128)').optional(),
    /** How long a replica's lease on a deployable lasts; another replica resumes its work within about this long after it dies. */
    RECOVERY_LEASE: duration.default(10_000),
    /** How long a launched, rebooted or started VM has to answer its first ping before the step counts as failed. */
    RECOVERY_BOOT_TIMEOUT: duration.default(120_000),
    /** How long an agent has to answer a command (restart, reconfigure, ping). */
    RECOVERY_COMMAND_TIMEOUT: duration.default(10_000),
    /** How often a VM being verified is pinged. */
    RECOVERY_VERIFY_INTERVAL: duration.default(250),
    /**
     * How long one cloud call may keep being retried (outages, throttling) before the step it serves
     * counts as errored and is retried later with backoff: long enough to ride out a blip, short enough
     * not to hold an action slot through an outage.
     */
    RECOVERY_CLOUD_RETRY_BUDGET: duration.default(30_000),
    /** How long a fence (terminate, then the cloud confirming it) may take before it counts as unconfirmed. */
    RECOVERY_FENCE_TIMEOUT: duration.default(60_000),
    /** Recovery actions (a reboot until verified, a fence and launch until the new VM answers) under way at once per cloud, by default. */
    RECOVERY_CLOUD_ACTIONS: wholeNumber(1, 100_000).default(20),
    /** Per-cloud overrides of RECOVERY_CLOUD_ACTIONS, e.g. `sim-openstack=20,sim-ec2=5`. */
    RECOVERY_CLOUD_ACTIONS_BY_CLOUD: perCloudActions.default({}),
    /** Deployables one replica works on at once; beyond that, others wait (or go to another replica). */
    RECOVERY_MAX_DEPLOYABLES: wholeNumber(1, 100_000).default(1_000),
    /** First wait before retrying work that errored (a cloud refusing, a bug); doubled up to RECOVERY_RETRY_MAX. */
    RECOVERY_RETRY_BASE: duration.default(1_000),
    RECOVERY_RETRY_MAX: duration.default(60_000),
  })
  .superRefine((env, ctx) => {
    if (env.RECOVERY_LEASE < 2_000) ctx.addIssue({ code: 'custom', path: ['RECOVERY_LEASE'], message: 'must be at least 2s (it is renewed every quarter of it)' });
    if (env.RECOVERY_RETRY_MAX < env.RECOVERY_RETRY_BASE) ctx.addIssue({ code: 'custom', path: ['RECOVERY_RETRY_MAX'], message: 'must be at least RECOVERY_RETRY_BASE' });
  });

export interface RecoveryConfig extends ServiceConfig {
  secretKey: string;
  agentSecret: Uint8Array;
  clouds: CloudConnectionConfig;
  /** What agents connect to (RECOVERY_AGENT_BROKER_URL, else AMQP_URL). */
  agentBrokerUrl: string;
  replicaId: string | undefined;
  leaseMs: number;
  bootTimeoutMs: number;
  commandTimeoutMs: number;
  verifyIntervalMs: number;
  fenceTimeoutMs: number;
  cloudRetryBudgetMs: number;
  /** Concurrent recovery actions per cloud: `default`, or the cloud's own entry in `byCloud`. */
  cloudActions: { default: number; byCloud: Readonly<Record<string, number>> };
  maxDeployables: number;
  retry: { baseMs: number; maxMs: number };
}

export function loadRecoveryConfig(env: Environment): RecoveryConfig {
  const parsed = loadConfig(recoveryEnvironmentSchema, env);
  const service = toServiceConfig(parsed);
  return {
    ...service,
    secretKey: parsed.DEFIB_SECRET_KEY,
    agentSecret: parsed.DEFIB_AGENT_SECRET,
    clouds: toCloudConnectionConfig(parsed),
    agentBrokerUrl: parsed.RECOVERY_AGENT_BROKER_URL ?? service.amqpUrl,
    replicaId: parsed.RECOVERY_REPLICA_ID,
    leaseMs: parsed.RECOVERY_LEASE,
    bootTimeoutMs: parsed.RECOVERY_BOOT_TIMEOUT,
    commandTimeoutMs: parsed.RECOVERY_COMMAND_TIMEOUT,
    verifyIntervalMs: parsed.RECOVERY_VERIFY_INTERVAL,
    fenceTimeoutMs: parsed.RECOVERY_FENCE_TIMEOUT,
    cloudRetryBudgetMs: parsed.RECOVERY_CLOUD_RETRY_BUDGET,
    cloudActions: { default: parsed.RECOVERY_CLOUD_ACTIONS, byCloud: parsed.RECOVERY_CLOUD_ACTIONS_BY_CLOUD },
    maxDeployables: parsed.RECOVERY_MAX_DEPLOYABLES,
    retry: { baseMs: parsed.RECOVERY_RETRY_BASE, maxMs: parsed.RECOVERY_RETRY_MAX },
  };
}
