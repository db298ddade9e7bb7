/** Deployables through the registry: apply, list, get, delete, start, stop, status (once or watched), maintenance. */
import { Argument, type Command } from 'commander';
import { CliError, EXIT } from './cli-error.ts';
import type { CommandContext } from './command-context.ts';
import { readManifestArgument } from './manifest-argument.ts';
import { allPages, ServiceProblem } from './service-client.ts';
import { deployablesTable, deployableView, maintenanceOf, statusView, warningsOf, type Deployable, type DeployableStatus, type MaintenanceWindow } from './views.ts';
import { secondsOption } from './options.ts';

interface MaintenanceState {
  deployable: string;
  maintenance: MaintenanceWindow | null;
  assemblies: Record<string, MaintenanceWindow>;
}

const path = (name: string) => `/v1/deployables/${encodeURIComponent(name)}`;

export function addDeployableCommands(program: Command, context: CommandContext): void {
  program
    .command('apply')
    .description('Apply a deployable manifest (YAML or JSON) through the registry; applying the same one again changes nothing')
    .requiredOption('-f, --file <file>', 'the manifest file')
    .action(async (options: { file: string }, command: Command) => {
      const manifest = await readManifestArgument(options.file);
      const registry = context.client(command, 'registry');
      try {
        const answer = await registry.request<Deployable>('PUT', path(manifest.name), { raw: { text: manifest.text, contentType: manifest.contentType } });
        const outcome = answer.headers.get('defib-apply-outcome') ?? (answer.status === 201 ? 'created' : 'updated');
        context.show(command, answer.body, (body) => [`deployable ${body.name} ${outcome} (version ${body.version})`, ...warningsOf(body.warnings)].join('\n'));
      } catch (error) {
        if (error instanceof ServiceProblem && error.status === 400 && (error.problem?.issues?.length ?? 0) > 0) {
          throw new CliError(error.problem?.issues?.map((issue) => `${manifest.file}: ${issue.path}: ${issue.message}`) ?? [], EXIT.badInput);
        }
        throw error;
      }
    });

  program
    .command('list')
    .description('List deployables by name')
    .option('--cloud <name>', 'only those on this cloud')
    .action(async (options: { cloud?: string }, command: Command) => {
      const items = await allPages<Deployable>(context.client(command, 'registry'), '/v1/deployables', { cloud: options.cloud });
      context.show(command, { items }, (body) => (body.items.length === 0 ? 'no deployables yet (defib apply -f manifest.yaml)' : deployablesTable(body.items)));
    });

  program
    .command('get')
    .description('Show a deployable: its ids, cloud, version, assemblies and resources')
    .addArgument(new Argument('<kind>', 'what to show').choices(['deployable']))
    .argument('<name>', 'its name')
    .action(async (_kind: string, name: string, _options: unknown, command: Command) => {
      const { body } = await context.client(command, 'registry').request<Deployable>('GET', path(name));
      context.show(command, body, deployableView);
    });

  program
    .command('delete')
    .description('Delete a deployable; refused while it should run unless --force')
    .addArgument(new Argument('<kind>', 'what to delete').choices(['deployable']))
    .argument('<name>', 'its name')
    .option('--force', 'delete it even though it should run')
    .action(async (_kind: string, name: string, options: { force?: boolean }, command: Command) => {
      await context.client(command, 'registry').request('DELETE', path(name), { query: { force: options.force === true ? 'true' : undefined } });
      context.show(command, { deleted: name }, () => `deployable ${name} deleted`);
    });

  for (const action of ['start', 'stop'] as const) {
    program
      .command(action)
      .description(action === 'start' ? 'Ask for a deployable to run: recovery launches it' : 'Ask for a deployable to stop: recovery stops its VMs')
      .argument('<name>', 'the deployable')
      .action(async (name: string, _options: unknown, command: Command) => {
        const { body } = await context.client(command, 'registry').request<Deployable>('POST', `${path(name)}/${action}`);
        context.show(command, body, () => `deployable ${name}: ${action} requested (defib status ${name} --watch to follow it)`);
      });
  }

  program
    .command('status')
    .description('The deployable now: each assembly with its instance, addresses, liveness, resources and maintenance, and the open incidents')
    .argument('<name>', 'the deployable')
    .option('-w, --watch', 'redraw until Ctrl-C')
    .addOption(secondsOption('--interval <seconds>', 'seconds between redraws with --watch', 2))
    .action(async (name: string, options: { watch?: boolean; interval: number }, command: Command) => {
      const registry = context.client(command, 'registry');
      for (;;) {
        const { body } = await registry.request<DeployableStatus>('GET', `${path(name)}/status`, { query: { events: 0 } });
        if (options.watch === true && context.interactive && context.format(command) === 'table') context.say('\x1b[2J\x1b[H');
        context.show(command, body, statusView);
        if (options.watch !== true) return;
        if (!context.interactive && context.format(command) === 'table') context.say('');
        await new Promise((resolve) => setTimeout(resolve, options.interval * 1000));
      }
    });

  program
    .command('maintenance')
    .description('Put a deployable (or one assembly) in maintenance, or end it: failures are reported, not recovered')
    .addArgument(new Argument('<on|off>', 'enter or end maintenance').choices(['on', 'off']))
    .argument('<name>', 'the deployable')
    .option('--assembly <assembly>', 'only this assembly')
    .option('--for <duration>', 'end it by itself after this long (30m, 2h)')
    .option('--until <time>', 'end it by itself at this time (ISO 8601, 2026-12-02T18:00:00Z)')
    .option('--reason <text>', 'why, carried in the event')
    .action(async (state: 'on' | 'off', name: string, options: { assembly?: string; for?: string; until?: string; reason?: string }, command: Command) => {
      const target = options.assembly === undefined ? `${path(name)}/maintenance` : `${path(name)}/assemblies/${encodeURIComponent(options.assembly)}/maintenance`;
      const registry = context.client(command, 'registry');
      const body = { for: options.for, until: options.until, reason: options.reason };
      const answer =
        state === 'on'
          ? await registry.request<MaintenanceState>('PUT', target, { body: Object.values(body).some((value) => value !== undefined) ? body : undefined })
          : await registry.request<MaintenanceState>('DELETE', target);
      const what = options.assembly === undefined ? `deployable ${name}` : `assembly ${name}/${options.assembly}`;
      context.show(command, answer.body, (result) => {
        const window = options.assembly === undefined ? result.maintenance : (result.assemblies[options.assembly] ?? null);
        return window === null ? `${what}: not in maintenance` : `${what}: in maintenance ${maintenanceOf(window)}`;
      });
    });
}
