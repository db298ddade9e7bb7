export * from './config.ts';
export * from './tables.ts';
export * from './migrations.ts';
export * from './intake.ts';
export * from './incident.repository.ts';
export * from './incident-routes.ts';
