export * from './isolation.ts';
export * from './wait.ts';
export { answers } from './infrastructure.ts';
export * from './service-process.ts';
export * from './service-harness.ts';
export * from './tcp-proxy.ts';
