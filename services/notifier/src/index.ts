export { createNotifierService, type NotifierService, type NotifierServiceOptions } from './notifier-service.ts';
export { loadNotifierConfig, notifierEnvironmentSchema, type NotifierConfig } from './config.ts';
