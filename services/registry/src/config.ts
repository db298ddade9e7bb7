/** The registry's environment: the shared service variables plus the credentials key. */
import { loadConfig, secretKeyVariable, serviceEnvironmentShape, toServiceConfig, type Environment, type ServiceConfig } from '@defib/platform';
import { z } from 'zod';

export const registryEnvironmentSchema = z.object({
  ...serviceEnvironmentShape(7101),
  /** 32 random bytes, base64: encrypts cloud credentials at rest. `openssl rand -base64 32` makes one. */
  DEFIB_SECRET_KEY: secretKeyVariable,
});

export interface RegistryConfig extends ServiceConfig {
  secretKey: string;
}

export function loadRegistryConfig(env: Environment): RegistryConfig {
  const parsed = loadConfig(registryEnvironmentSchema, env);
  return { ...toServiceConfig(parsed), secretKey: parsed.DEFIB_SECRET_KEY };
}
