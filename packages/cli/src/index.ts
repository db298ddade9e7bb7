export { runCli, buildProgram, type CliIo } from './program.ts';
export { resolveSettings, type CliSettings } from './settings.ts';
