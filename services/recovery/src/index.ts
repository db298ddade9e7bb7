export * from './config.ts';
export * from './tables.ts';
export * from './agent-config.ts';
export * from './action-slots.ts';
export * from './hands.ts';
