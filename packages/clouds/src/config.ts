/**
 * The variables a service that talks to clouds adds to its environment schema: where the registry
 * is and the service token it presents there.
 */
import { z } from 'zod';

export const cloudConnectionEnvironmentShape = {
  /** The registry's base URL. */
  DEFIB_REGISTRY_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('http://127.0.0.1:7101'),
  /** One of the registry's `DEFIB_SERVICE_TOKENS`. */
  DEFIB_SERVICE_TOKEN: z.string().min(16, 'must be at least 16 characters'),
};

/** Where a service gets its cloud connections. */
export interface CloudConnectionConfig {
  registryUrl: string;
  serviceToken: string;
}

export function toCloudConnectionConfig(env: { DEFIB_REGISTRY_URL: string; DEFIB_SERVICE_TOKEN: string }): CloudConnectionConfig {
  return { registryUrl: env.DEFIB_REGISTRY_URL, serviceToken: env.DEFIB_SERVICE_TOKEN };
}
