/** Failure drills: a scenario of deployables and faults run against Defib's real processes, and the report. */
export * from './drill-scenario.ts';
export * from './drill-report.ts';
export * from './infrastructure.ts';
export * from './report-format.ts';
export * from './report-markdown.ts';
export * from './report-svg.ts';
export * from './report-files.ts';
export * from './progress.ts';
export * from './scenario-loader.ts';
export * from './drill-runner.ts';
