/** Failure drills: a scenario of deployables and faults run against Defib's real processes, and the report. */
export * from './drill-scenario.ts';
export * from './drill-report.ts';
export * from './scenario-loader.ts';
