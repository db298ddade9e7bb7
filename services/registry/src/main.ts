/** Starts the registry from the environment: `pnpm --filter ./services/registry start`. */
import { createLogger, processEnvironment, runUntilSignalled } from '@defib/platform';
import { loadRegistryConfig } from './config.ts';
import { createRegistryService } from './registry-service.ts';

const config = loadRegistryConfig(processEnvironment());
const logger = createLogger({ service: 'registry', level: config.logLevel });
runUntilSignalled(createRegistryService(config, { logger }), logger);
