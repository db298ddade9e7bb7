/**
 * Where the CLI finds Defib and which token it presents. Each setting comes from, in order: the
 * environment (read through the platform's loader, which also reads the checkout's `.env`, where
 * `./defib` writes DEFIB_ADMIN_TOKEN), then a config file, then the localhost defaults. The token
 * is DEFIB_TOKEN, else the config file's `token`, else DEFIB_ADMIN_TOKEN: a token set for the CLI
 * on purpose wins over the installation's admin token.
 *
 * The config file is `--config FILE`, else `$DEFIB_CONFIG`, else `~/.config/defib/config.yaml`
 * (`{ token, registry, recovery, notifier, monitor }`, each optional); only a file named
 * explicitly must exist.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type Environment } from '@defib/platform/config';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CliError, EXIT } from './cli-error.ts';
import { readInputFile } from './input-file.ts';

export type ServiceName = 'registry' | 'recovery' | 'notifier' | 'monitor';

export const DEFAULT_URLS: Record<ServiceName, string> = {
  registry: 'http://127.0.0.1:7101',
  monitor: 'http://127.0.0.1:7102',
  recovery: 'http://127.0.0.1:7103',
  notifier: 'http://127.0.0.1:7104',
};

export interface CliSettings {
  /** Never printed. */
  token: string | undefined;
  urls: Record<ServiceName, string>;
}

const serviceUrl = z
  .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
  .transform((url) => url.replace(/\/+$/, ''));
const token = z.string().min(1, 'must not be empty');

export const cliEnvironmentSchema = z.object({
  DEFIB_TOKEN: token.optional(),
  DEFIB_ADMIN_TOKEN: token.optional(),
  DEFIB_REGISTRY_URL: serviceUrl.optional(),
  DEFIB_RECOVERY_URL: serviceUrl.optional(),
  DEFIB_NOTIFIER_URL: serviceUrl.optional(),
  DEFIB_MONITOR_URL: serviceUrl.optional(),
  DEFIB_CONFIG: z.string().optional(),
});

const configFileSchema = z.strictObject({
  token: token.optional(),
  registry: serviceUrl.optional(),
  recovery: serviceUrl.optional(),
  notifier: serviceUrl.optional(),
  monitor: serviceUrl.optional(),
});

type ConfigFile = z.output<typeof configFileSchema>;

function readConfigFile(file: string, mustExist: boolean): ConfigFile {
  if (!mustExist && !existsSync(file)) return {};
  const text = readInputFile(file);
  let value: unknown;
  try {
    value = parseYaml(text) ?? {};
  } catch (error) {
    throw new CliError(`defib: ${file}: ${(error as Error).message.split('\n')[0] ?? 'not YAML'}`, EXIT.badInput);
  }
  const parsed = configFileSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new CliError(
    parsed.error.issues.map((issue) => `defib: ${file}: ${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`),
    EXIT.badInput,
  );
}

/** The settings from `env` (the process environment over `.env`) and the config file. */
export function resolveSettings(env: Environment, options: { configFile?: string | undefined } = {}): CliSettings {
  let variables: z.output<typeof cliEnvironmentSchema>;
  try {
    variables = loadConfig(cliEnvironmentSchema, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new CliError(error.problems.map((problem) => `defib: ${problem.variable}: ${problem.message}`), EXIT.badInput);
  }
  const explicit = options.configFile ?? variables.DEFIB_CONFIG;
  const file = readConfigFile(explicit ?? join(homedir(), '.config', 'defib', 'config.yaml'), explicit !== undefined);
  return {
    token: variables.DEFIB_TOKEN ?? file.token ?? variables.DEFIB_ADMIN_TOKEN,
    urls: {
      registry: variables.DEFIB_REGISTRY_URL ?? file.registry ?? DEFAULT_URLS.registry,
      recovery: variables.DEFIB_RECOVERY_URL ?? file.recovery ?? DEFAULT_URLS.recovery,
      notifier: variables.DEFIB_NOTIFIER_URL ?? file.notifier ?? DEFAULT_URLS.notifier,
      monitor: variables.DEFIB_MONITOR_URL ?? file.monitor ?? DEFAULT_URLS.monitor,
    },
  };
}
