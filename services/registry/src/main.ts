/** Starts the registry from the environment: `pnpm --filter ./services/registry start`. */
import { createLogger, processEnvironment, runService } from '@defib/platform';
import { loadRegistryConfig } from './config.ts';
import { createRegistryService } from './registry-service.ts';

runService(() => {
  const config = loadRegistryConfig(processEnvironment());
  const logger = createLogger({ service: 'registry', level: config.logLevel });
  return { service: createRegistryService(config, { logger }), logger };
});
