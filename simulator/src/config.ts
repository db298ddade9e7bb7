/** The simulator's environment: where it listens, its seed and speed, and its agents' broker connections. */
import { loadConfig, serviceEnvironmentShape, type Environment } from '@defib/platform';
import { z } from 'zod';

const { PORT, HOST, LOG_LEVEL } = serviceEnvironmentShape(7200);

const simulatorEnvironmentSchema = z.object({
  PORT,
  HOST,
  LOG_LEVEL,
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
    seed: parsed.SIM_SEED,
    speedFactor: parsed.SIM_SPEED_FACTOR,
    agentConnections: parsed.SIM_AGENT_CONNECTIONS,
  };
}
