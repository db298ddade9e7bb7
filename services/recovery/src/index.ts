export * from './config.ts';
export * from './tables.ts';
