export * from './isolation.ts';
export * from './wait.ts';
export { answers } from '@defib/drill';
export * from './service-process.ts';
export * from './service-harness.ts';
export * from './database-contents.ts';
export * from './throwaway-postgres.ts';
export * from './throwaway-rabbitmq.ts';
export * from './tcp-proxy.ts';
