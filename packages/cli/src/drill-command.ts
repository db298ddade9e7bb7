/** `defib drill`: runs the drill runner (packages/drill/src/main.ts) with the arguments given, in this terminal. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError, EXIT } from './cli-error.ts';

const DRILL_MAIN = fileURLToPath(new URL('../../drill/src/main.ts', import.meta.url));

/** Runs the drill and resolves with its exit code; Ctrl-C reaches the drill (same terminal), which stops what it started. */
export async function runDrill(args: readonly string[]): Promise<number> {
  if (!existsSync(DRILL_MAIN)) throw new CliError(`defib: the drill runner is not in this checkout (${DRILL_MAIN} is missing)`, EXIT.failed);
  const child = spawn(process.execPath, [DRILL_MAIN, ...args], { stdio: 'inherit' });
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])));
    });
  } finally {
    process.off('SIGINT', ignore);
  }
}

export function addDrillCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('drill')
    .description('Rehearse failures: start the simulator and the services, inject a scenario\'s faults, and report detection and recovery (the default scenario without one)')
    .argument('[scenario]', 'a scenario name or file')
    .argument('[args...]', 'more arguments for the drill runner, such as --out DIR')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (scenario: string | undefined, args: string[]) => {
      setExitCode(await runDrill([...(scenario === undefined ? [] : [scenario]), ...args]));
    });
}
