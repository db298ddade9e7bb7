/** Starts the monitor from the environment: `pnpm --filter ./services/monitor start`. */
import { createLogger, processEnvironment, runService } from '@defib/platform';
import { loadMonitorConfig } from './config.ts';
import { createMonitorService } from './monitor-service.ts';

runService(() => {
  const config = loadMonitorConfig(processEnvironment());
  const logger = createLogger({ service: 'monitor', level: config.logLevel });
  return { service: createMonitorService(config, { logger }), logger };
});
