export * from './log-lines.ts';
export * from './parts.ts';
export * from './supervisor.ts';
