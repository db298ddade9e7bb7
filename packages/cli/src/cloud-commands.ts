/** Cloud registrations through the registry: list, get, put from a file, delete. Credentials are never shown. */
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { CliError, EXIT } from './cli-error.ts';
import type { CommandContext } from './command-context.ts';
import { readInputFile } from './input-file.ts';
import { cloudsTable, warningsOf, type Cloud } from './views.ts';

const path = (name: string) => `/v1/clouds/${encodeURIComponent(name)}`;

/** A registration file (YAML or JSON) as a value to send. */
function readRegistration(file: string): unknown {
  const text = readInputFile(file);
  try {
    return parseYaml(text) as unknown;
  } catch (error) {
    throw new CliError(`${file}: ${(error as Error).message.split('\n')[0] ?? 'not YAML'}`, EXIT.badInput);
  }
}

export function addCloudCommands(program: Command, context: CommandContext): void {
  const clouds = program.command('clouds').description('Registered clouds (OpenStack, EC2): list, get, put, delete');

  clouds
    .command('list')
    .description('List registered clouds (never their credentials)')
    .action(async (_options: unknown, command: Command) => {
      const { body } = await context.client(command, 'registry').request<{ items: Cloud[] }>('GET', '/v1/clouds');
      context.show(command, body, (page) => (page.items.length === 0 ? 'no clouds registered (defib clouds put NAME -f cloud.yaml)' : cloudsTable(page.items)));
    });

  clouds
    .command('get')
    .description('Show one registered cloud (never its credentials)')
    .argument('<name>', 'the cloud')
    .action(async (name: string, _options: unknown, command: Command) => {
      const { body } = await context.client(command, 'registry').request<Cloud>('GET', path(name));
      context.show(command, body, (cloud) => cloudsTable([cloud]));
    });

  clouds
    .command('put')
    .description('Register a cloud, or replace its registration, from a YAML or JSON file (provider, authUrl or endpoint, region, credentials)')
    .argument('<name>', 'the cloud')
    .requiredOption('-f, --file <file>', 'the registration file')
    .action(async (name: string, options: { file: string }, command: Command) => {
      const answer = await context.client(command, 'registry').request<Cloud>('PUT', path(name), { body: readRegistration(options.file) });
      context.show(command, answer.body, (cloud) => [`cloud ${cloud.name} ${answer.status === 201 ? 'registered' : 'replaced'}`, ...warningsOf(cloud.warnings)].join('\n'));
    });

  clouds
    .command('delete')
    .description('Remove a cloud registration; refused while deployables use it')
    .argument('<name>', 'the cloud')
    .action(async (name: string, _options: unknown, command: Command) => {
      await context.client(command, 'registry').request('DELETE', path(name));
      context.show(command, { deleted: name }, () => `cloud ${name} removed`);
    });
}
