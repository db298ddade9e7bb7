/**
 * `pnpm drill [scenario] [--out DIR]`: runs a failure drill and writes its report.
 *
 * `scenario` is a name from `drills/` (`default` when absent, `host-failure`, `gave-up`, …) or a
 * path to a scenario file. Exit codes: 0 every check held; 1 a check failed or the drill could not
 * run; 2 bad input (arguments, scenario or manifest); 130 interrupted (Ctrl-C), after every process
 * the drill started was stopped and its database and queues removed.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DocumentError } from '@defib/contracts';
import { processEnvironment } from '@defib/platform';
import { DrillInterrupted, runDrill } from './drill-runner.ts';
import { resolveInfrastructure } from './infrastructure.ts';
import { createProgress } from './progress.ts';
import { summaryLines, writeReportFiles } from './report-files.ts';
import { loadDrillScenario, resolveDrillScenario } from './scenario-loader.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const drillsDir = resolve(root, 'drills');

const USAGE = `usage: pnpm drill [scenario] [--out DIR]

Runs a failure drill: starts the simulator and Defib's four services, applies the scenario's
deployables, injects its faults, waits for recovery and writes drill-report.json, .md and .svg.

  scenario     a name from drills/ (default: default) or a scenario file
  --out DIR    where the reports go (default: reports/)
  -h, --help   this text

Exit code 0 only when every fault ended as expected and every check held.`;

function fail(message: string, code: number): never {
  process.stderr.write(`drill: ${message}\n`);
  process.exit(code);
}

let args: { positionals: string[]; values: { out?: string | undefined; help?: boolean | undefined } };
try {
  args = parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
} catch (error) {
  fail(`${(error as Error).message}\n${USAGE}`, 2);
}
if (args.values.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (args.positionals.length > 1) fail(`one scenario at a time (got ${args.positionals.join(', ')})\n${USAGE}`, 2);

const startedAt = Date.now();
let loaded: ReturnType<typeof loadDrillScenario>;
try {
  loaded = loadDrillScenario(resolveDrillScenario(args.positionals[0], drillsDir));
} catch (error) {
  if (error instanceof DocumentError) fail(error.message, 2);
  throw error;
}
const outDir = resolve(args.values.out ?? 'reports');

let infrastructure: Awaited<ReturnType<typeof resolveInfrastructure>>;
try {
  infrastructure = await resolveInfrastructure(processEnvironment(), 'the drill');
} catch (error) {
  fail((error as Error).message, 1);
}
// Ctrl-C stops the drill: it stops every process it started and removes what it made, then exits.
// A second Ctrl-C leaves at once.
const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(130);
  process.stderr.write('\ndrill: interrupted; stopping every process it started (Ctrl-C again to leave at once)\n');
  interrupt.abort();
});
process.on('SIGTERM', () => interrupt.abort());

const terminal = process.stdout.isTTY;
const progress = createProgress({
  write: (text) => process.stdout.write(text),
  terminal,
  totalFaults: loaded.scenario.faults.length,
  ...(terminal ? { columns: process.stdout.columns } : {}),
});
process.stdout.write(`drill ${loaded.scenario.name}${loaded.scenario.description === undefined ? '' : `: ${loaded.scenario.description}`} (${loaded.file})\n`);
try {
  const report = await runDrill({ plan: loaded, databaseUrl: infrastructure.databaseUrl, amqpUrl: infrastructure.amqpUrl, outDir, progress, signal: interrupt.signal, startedAt });
  const files = await writeReportFiles(report, outDir);
  process.stdout.write(`${summaryLines(report, files).join('\n')}\n`);
  await infrastructure.stop();
  process.exit(report.passed ? 0 : 1);
} catch (error) {
  await infrastructure.stop();
  if (error instanceof DrillInterrupted || interrupt.signal.aborted) fail(new DrillInterrupted().message, 130);
  fail((error as Error).message, 1);
}
