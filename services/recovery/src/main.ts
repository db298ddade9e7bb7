/** Starts recovery from the environment: `pnpm --filter ./services/recovery start`. */
import { createLogger, processEnvironment, runService } from '@defib/platform';
import { loadRecoveryConfig } from './config.ts';
import { createRecoveryService } from './recovery-service.ts';

runService(() => {
  const config = loadRecoveryConfig(processEnvironment());
  const logger = createLogger({ service: 'recovery', level: config.logLevel });
  return { service: createRecoveryService(config, { logger }), logger };
});
