/** Incidents through recovery's API: the list, and one incident's step timeline. */
import type { Command } from 'commander';
import type { CommandContext } from './command-context.ts';
import { incidentsTable, incidentView, type Incident } from './views.ts';

export function addIncidentCommands(program: Command, context: CommandContext): void {
  program
    .command('incidents')
    .description('Incidents, newest first: what failed and how recovery ended it')
    .option('--open', 'only incidents still being recovered')
    .option('--closed', 'only incidents that ended')
    .option('--deployable <name>', 'only those of this deployable')
    .option('--limit <n>', 'at most this many (1-200)', '50')
    .action(async (options: { open?: boolean; closed?: boolean; deployable?: string; limit: string }, command: Command) => {
      const state = options.open === true ? 'open' : options.closed === true ? 'closed' : undefined;
      const { body } = await context.client(command, 'recovery').request<{ items: Incident[] }>('GET', '/v1/incidents', { query: { state, deployable: options.deployable, limit: options.limit } });
      context.show(command, body, (page) => (page.items.length === 0 ? `no ${state === undefined ? '' : `${state} `}incidents` : incidentsTable(page.items)));
    });

  program
    .command('incident')
    .description("One incident: what failed and every step recovery took, in order")
    .argument('<id>', 'the incident id (from defib incidents or defib status)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { body } = await context.client(command, 'recovery').request<Incident>('GET', `/v1/incidents/${encodeURIComponent(id)}`);
      context.show(command, body, incidentView);
    });
}
