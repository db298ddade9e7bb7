/**
 * What every command's action uses: the settings (resolved when a command runs, so `--help` needs
 * none), a client per service, and the output in the format asked for with `--output`.
 */
import type { Command } from 'commander';
import type { Environment } from '@defib/platform/config';
import { resolveSettings, type CliSettings, type ServiceName } from './settings.ts';
import { serviceClient, type ServiceClient } from './service-client.ts';

export type OutputFormat = 'table' | 'json';

export interface CommandContext {
  settings(command: Command): CliSettings;
  client(command: Command, service: ServiceName): ServiceClient;
  format(command: Command): OutputFormat;
  /** Prints `body` as JSON, or as `render` reads it. */
  show<T>(command: Command, body: T, render: (body: T) => string): void;
  /** Prints a line (a confirmation, one event). */
  say(text: string): void;
  /** Whether stdout is a terminal (`status --watch` clears it between redraws). */
  interactive: boolean;
}

interface GlobalOptions {
  output: OutputFormat;
  config?: string;
}

export interface CommandIo {
  env: Environment;
  write: (text: string) => void;
  interactive: boolean;
}

export function createCommandContext(io: CommandIo): CommandContext {
  const globals = (command: Command) => command.optsWithGlobals<GlobalOptions>();
  const settingsOf = (command: Command) => resolveSettings(io.env, { configFile: globals(command).config });
  return {
    settings: settingsOf,
    client: (command, service) => serviceClient(settingsOf(command), service),
    format: (command) => globals(command).output,
    show(command, body, render) {
      io.write(globals(command).output === 'json' ? `${JSON.stringify(body, null, 2)}\n` : `${render(body)}\n`);
    },
    say: (text) => io.write(`${text}\n`),
    interactive: io.interactive,
  };
}
