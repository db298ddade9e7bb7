/**
 * The simulator's environment: where it listens, who may use its control API, its seed and
 * speed, and its agents' broker connections. It has no database and no bus of its own: agents
 * publish to the broker their VM's agent configuration names.
 */
import { loadConfig, serviceEnvironmentShape, type AuthSettings, type Environment } from '@defib/platform';
import { z } from 'zod';

const { PORT, HOST, LOG_LEVEL, DEFIB_ADMIN_TOKEN, DEFIB_READ_TOKENS, DEFIB_OPEN_READS, BODY_LIMIT_BYTES, SHUTDOWN_GRACE_MS } = serviceEnvironmentShape(7200);

export const simulatorEnvironmentSchema = z.object({
  PORT,
  HOST,
  LOG_LEVEL,
  /** Unset: the control API is open (a local rehearsal tool). Set: it is guarded like every Defib service. */
  DEFIB_ADMIN_TOKEN,
  DEFIB_READ_TOKENS,
  DEFIB_OPEN_READS,
  BODY_LIMIT_BYTES,
  SHUTDOWN_GRACE_MS,
  /** Same seed, same requests ⇒ same ids, addresses and timings. */
  SIM_SEED: z.string().max(200).default('defib'),
  /** Divides every cloud delay: 60 makes a minute of cloud time pass in a second. */
  SIM_SPEED_FACTOR: z.coerce.number({ message: 'must be a number' }).positive('must be greater than 0').max(100_000).default(1),
  /** Broker connections the simulated agents share, per broker URL. */
  SIM_AGENT_CONNECTIONS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1).max(64).default(2),
});

export interface SimulatorConfig {
  port: number;
  host: string;
  logLevel: z.output<typeof simulatorEnvironmentSchema>['LOG_LEVEL'];
  /** The control API's tokens; none means it is open. */
  auth: AuthSettings;
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  seed: string;
  speedFactor: number;
  agentConnections: number;
}

export function loadSimulatorConfig(env: Environment): SimulatorConfig {
  const parsed = loadConfig(simulatorEnvironmentSchema, env);
  return {
    port: parsed.PORT,
    host: parsed.HOST,
    logLevel: parsed.LOG_LEVEL,
    auth: { adminToken: parsed.DEFIB_ADMIN_TOKEN, readTokens: parsed.DEFIB_READ_TOKENS ?? [], openReads: parsed.DEFIB_OPEN_READS },
    bodyLimitBytes: parsed.BODY_LIMIT_BYTES,
    shutdownGraceMs: parsed.SHUTDOWN_GRACE_MS,
    seed: parsed.SIM_SEED,
    speedFactor: parsed.SIM_SPEED_FACTOR,
    agentConnections: parsed.SIM_AGENT_CONNECTIONS,
  };
}
