/** The registry's environment: the shared service variables plus the credentials key. */
import { loadConfig, serviceEnvironmentShape, toServiceConfig, type Environment, type ServiceConfig } from '@defib/platform';
import { z } from 'zod';

export const registryEnvironmentSchema = z.object({
  ...serviceEnvironmentShape(7101),
  /** 32 random bytes, base64: encrypts cloud credentials at rest. `openssl rand -base64 32` makes one. */
  DEFIB_SECRET_KEY: z
    .string()
    .refine((value) => Buffer.from(value, 'base64').length === 32 && /^[A-Za-z0-9+/]+={0,2}$/.test(value), 'must be 32 random bytes, base64-encoded (openssl rand -base64 32)'),
});

export interface RegistryConfig extends ServiceConfig {
  secretKey: string;
}

export function loadRegistryConfig(env: Environment): RegistryConfig {
  const parsed = loadConfig(registryEnvironmentSchema, env);
  return { ...toServiceConfig(parsed), secretKey: parsed.DEFIB_SECRET_KEY };
}
