/**
 * The one config loader: every service describes its environment as a zod schema keyed by
 * variable name, and gets back one typed object or one error that lists every bad variable.
 * Nothing else in the code base reads `process.env`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { z } from 'zod';

/** Thrown at start-up when the environment is incomplete or wrong; lists every problem. */
export class ConfigError extends Error {
  readonly problems: readonly { variable: string; message: string }[];

  constructor(problems: readonly { variable: string; message: string }[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** Parses `env` with `schema`, reporting all problems at once. Empty strings count as unset. */
export function loadConfig<S extends z.ZodType>(schema: S, env: Environment): z.output<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const variable = issue.path.length > 0 ? issue.path.map(String).join('.') : '(environment)';
      return { variable, message: issue.code === 'invalid_type' && present[variable] === undefined ? 'is required' : issue.message };
    }),
  );
}

/**
 * `.env` at the root of the checkout: the one place settings live across terminals (`./defib`
 * writes it with fresh secrets). Docker images have none; their settings come from the environment.
 */
const DEFAULT_ENV_FILE = fileURLToPath(new URL('../../../.env', import.meta.url));

/**
 * The variables of a `.env` file (`NAME=value` lines, `#` comments, optional quotes) merged under
 * `env`: a variable set in `env` wins. No file, or an empty `file`, adds nothing.
 */
export function withEnvFile(env: Environment, file: string): Environment {
  if (file === '') return env;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return env;
    throw error;
  }
  const defined = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
  return { ...parseEnv(text), ...defined };
}

/**
 * The process environment over the settings file: `.env` at the root of the checkout, or the file
 * `DEFIB_ENV_FILE` names (empty: none). The only place that reads either.
 */
export function processEnvironment(): Environment {
  return withEnvFile(process.env, process.env.DEFIB_ENV_FILE ?? DEFAULT_ENV_FILE);
}

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const PORT_MESSAGE = 'must be a port number (0-65535)';
const port = z.string().regex(/^\d{1,5}$/, PORT_MESSAGE).transform(Number).pipe(z.number().max(65535, PORT_MESSAGE));

const tokenList = z
  .string()
  .transform((value) => value.split(',').map((token) => token.trim()).filter((token) => token !== ''))
  .refine((tokens) => tokens.every((token) => token.length >= 16), 'every token must be at least 16 characters');

const amqpUrl = z.url({ protocol: /^amqps?$/, message: 'must be an amqp:// or amqps:// URL' });
const postgresUrl = z.url({ protocol: /^postgres(ql)?$/, message: 'must be a postgres:// URL' });

/**
 * `DEFIB_SECRET_KEY`: 32 random bytes, base64, for services that keep secrets at rest (see
 * `SecretBox`). `openssl rand -base64 32` makes one.
 */
export const secretKeyVariable = z
  .string()
  .refine((value) => Buffer.from(value, 'base64').length === 32 && /^[A-Za-z0-9+/]+={0,2}$/.test(value), 'must be 32 random bytes, base64-encoded (openssl rand -base64 32)');

/**
 * `DEFIB_AGENT_SECRET`: the installation secret every assembly's agent key derives from (HKDF, see
 * agent-signature.ts in the contracts), 32 or more random bytes, base64. The monitor and recovery
 * hold it; VMs only ever get their own derived key. `openssl rand -base64 32` makes one.
 */
export const agentSecretVariable = z
  .string()
  .refine((value) => /^[A-Za-z0-9+/]+={0,2}$/.test(value) && Buffer.from(value, 'base64').length >= 32, 'must be at least 32 random bytes, base64-encoded (openssl rand -base64 32)')
  .transform((value) => Buffer.from(value, 'base64'));

/** Environment every service shares. Defaults follow the brief: local PostgreSQL and RabbitMQ. */
export function serviceEnvironmentShape(defaultPort: number, defaults: { databasePoolSize?: number } = {}) {
  return {
    PORT: port.default(defaultPort),
    HOST: z.string().default('127.0.0.1'),
    DATABASE_URL: postgresUrl.default('postgres://postgres@127.0.0.1:5432/postgres'),
    DATABASE_POOL_SIZE: z.coerce.number().int('must be a whole number').min(2).max(200).default(defaults.databasePoolSize ?? 10),
    AMQP_URL: amqpUrl.default('amqp://guest:guest@127.0.0.1:5672'),
    /** Prefix for exchange and queue names, so several installations (or test runs) share a broker. */
    BUS_PREFIX: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'must be lower-case letters, digits, dots and dashes').default('defib'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DEFIB_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    DEFIB_READ_TOKENS: tokenList.optional(),
    /** Tokens Defib's services present to each other; they alone (and the admin) may fetch cloud credentials. */
    DEFIB_SERVICE_TOKENS: tokenList.optional(),
    DEFIB_OPEN_READS: booleanString.default(false),
    BODY_LIMIT_BYTES: z.coerce.number().int('must be a whole number of bytes').positive().default(1_048_576),
    SHUTDOWN_GRACE_MS: z.coerce.number().int().nonnegative().default(10_000),
  };
}

export const serviceEnvironmentSchema = z.object(serviceEnvironmentShape(0));

/** The typed view of the shared environment. */
export interface ServiceConfig {
  port: number;
  host: string;
  databaseUrl: string;
  /** Connections this process may hold open to PostgreSQL. */
  databasePoolSize: number;
  amqpUrl: string;
  busPrefix: string;
  logLevel: z.output<typeof serviceEnvironmentSchema>['LOG_LEVEL'];
  auth: { adminToken?: string | undefined; readTokens: readonly string[]; serviceTokens?: readonly string[] | undefined; openReads: boolean };
  bodyLimitBytes: number;
  shutdownGraceMs: number;
}

/** Maps the shared variables to their typed view. */
export function toServiceConfig(env: z.output<typeof serviceEnvironmentSchema>): ServiceConfig {
  return {
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    databasePoolSize: env.DATABASE_POOL_SIZE,
    amqpUrl: env.AMQP_URL,
    busPrefix: env.BUS_PREFIX,
    logLevel: env.LOG_LEVEL,
    auth: { adminToken: env.DEFIB_ADMIN_TOKEN, readTokens: env.DEFIB_READ_TOKENS ?? [], serviceTokens: env.DEFIB_SERVICE_TOKENS ?? [], openReads: env.DEFIB_OPEN_READS },
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
  };
}
