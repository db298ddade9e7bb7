/** The registry's environment: the shared service variables plus the credentials key. */
import { loadConfig, secretKeyVariable, serviceEnvironmentShape, toServiceConfig, type Environment, type ServiceConfig } from '@defib/platform';
import { makeDurationSchema } from '@defib/contracts';
import { z } from 'zod';

export const registryEnvironmentSchema = z.object({
  ...serviceEnvironmentShape(7101),
  /** 32 random bytes, base64: encrypts cloud credentials at rest. `openssl rand -base64 32` makes one. */
  DEFIB_SECRET_KEY: secretKeyVariable,
  /** How long a start request may wait for recovery to act before the status says nothing has. */
  REGISTRY_UNACTED_START_AFTER: makeDurationSchema().default(30_000),
  /** How long asking a cloud about a registration or a manifest's images may take before it is accepted with a warning. */
  REGISTRY_CLOUD_CHECK_TIMEOUT: makeDurationSchema().default(10_000),
});

export interface RegistryConfig extends ServiceConfig {
  secretKey: string;
  /** How long a start request may wait for recovery to act before the status says nothing has. */
  unactedStartAfterMs: number;
  /** How long asking a cloud about a registration or a manifest may take before it is accepted with a warning. */
  cloudCheckTimeoutMs: number;
}

export function loadRegistryConfig(env: Environment): RegistryConfig {
  const parsed = loadConfig(registryEnvironmentSchema, env);
  return { ...toServiceConfig(parsed), secretKey: parsed.DEFIB_SECRET_KEY, unactedStartAfterMs: parsed.REGISTRY_UNACTED_START_AFTER, cloudCheckTimeoutMs: parsed.REGISTRY_CLOUD_CHECK_TIMEOUT };
}
