/**
 * The `defib` command line, on commander: every command, its options and its help, and how a
 * run ends — exit 0, or one clear error on stderr and the exit code that says what kind (see
 * {@link EXIT}): never a stack trace, never the token.
 */
import { Command, CommanderError, Option } from 'commander';
import { CliError, EXIT } from './cli-error.ts';
import { createCommandContext, type CommandIo } from './command-context.ts';
import { addCloudCommands } from './cloud-commands.ts';
import { addDeployableCommands } from './deployable-commands.ts';
import { addDrillCommand } from './drill-command.ts';
import { addIncidentCommands } from './incident-commands.ts';
import { addNotificationCommands } from './notification-commands.ts';

export interface CliIo extends CommandIo {
  writeError: (text: string) => void;
}

const EPILOG = `
Settings: DEFIB_TOKEN (else token: in the config file, else DEFIB_ADMIN_TOKEN), DEFIB_REGISTRY_URL,
DEFIB_RECOVERY_URL, DEFIB_NOTIFIER_URL, DEFIB_MONITOR_URL from the environment or the checkout's .env,
else the config file (--config, $DEFIB_CONFIG, ~/.config/defib/config.yaml:
{ token, registry, recovery, notifier, monitor }), else http://127.0.0.1:7101 … 7104.
Exit codes: 0 done; 1 a service refused, failed or does not answer; 2 bad usage or input; 3 not found.`;

export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('defib')
    .description('Defib keeps cloud applications alive. This tool talks to its services over their HTTP APIs.')
    .addOption(new Option('-o, --output <format>', 'table for people, json (the API\'s answer as is) for scripts').choices(['table', 'json']).default('table'))
    .option('-c, --config <file>', 'the config file (default: $DEFIB_CONFIG, else ~/.config/defib/config.yaml)')
    .addHelpText('after', EPILOG)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: io.write,
      writeErr: io.writeError,
      outputError: (text, write) => write(`defib: ${text.replace(/^error: /, '').replace(/^defib: /, '')}`),
    })
    .showSuggestionAfterError()
    .exitOverride();
  const context = createCommandContext(io);
  addDeployableCommands(program, context);
  addIncidentCommands(program, context);
  addNotificationCommands(program, context);
  addCloudCommands(program, context);
  addDrillCommand(program, setExitCode);
  return program;
}

/** Runs `defib` with `args` (without node and the script); resolves with the exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...args], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with code 0; every other complaint of the parser is bad usage.
      return error.exitCode === 0 ? 0 : EXIT.badInput;
    }
    if (error instanceof CliError) {
      io.writeError(`${error.lines.join('\n')}\n`);
      return error.exitCode;
    }
    io.writeError(`defib: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failed;
  }
}
