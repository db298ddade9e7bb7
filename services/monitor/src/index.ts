export * from './config.ts';
export * from './monitor-service.ts';
export * from './watch.ts';
export { livenessView } from './routes.ts';
export { shardOf } from './shard-leases.ts';
