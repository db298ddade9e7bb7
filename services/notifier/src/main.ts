/** Starts the notifier from the environment: `pnpm --filter ./services/notifier start`. */
import { createLogger, processEnvironment, runService } from '@defib/platform';
import { loadNotifierConfig } from './config.ts';
import { createNotifierService } from './notifier-service.ts';

runService(() => {
  const config = loadNotifierConfig(processEnvironment());
  const logger = createLogger({ service: 'notifier', level: config.logLevel });
  return { service: createNotifierService(config, { logger }), logger };
});
