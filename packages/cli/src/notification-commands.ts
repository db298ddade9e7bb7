/** The notifier's side: the event log (once or followed), subscriptions and the delivery log. */
import type { Command } from 'commander';
import type { CommandContext } from './command-context.ts';
import { readEvents } from './event-follower.ts';
import { secondsOption } from './options.ts';
import { allPages } from './service-client.ts';
import { deliveriesTable, eventLine, subscriptionsTable, type Delivery, type Deployable, type Subscription } from './views.ts';

const DAY_MS = 86_400_000;
const list = (text: string) => text.split(',').map((part) => part.trim()).filter((part) => part !== '');

export function addNotificationCommands(program: Command, context: CommandContext): void {
  program
    .command('events')
    .description('The event log, oldest first: one line per event (time, type, subject, reason), or one JSON object per line with --output json')
    .option('-f, --follow', 'keep printing new events until Ctrl-C')
    .option('--type <types>', 'only these types, comma-separated; patterns such as assembly.* work')
    .option('--deployable <name>', 'only events about this deployable')
    .option('--since <time>', 'only events received since this time (ISO 8601)')
    .addOption(secondsOption('--interval <seconds>', 'seconds between polls with --follow', 1))
    .action(async (options: { follow?: boolean; type?: string; deployable?: string; since?: string; interval: number }, command: Command) => {
      const deployable = options.deployable === undefined ? undefined : (await context.client(command, 'registry').request<Deployable>('GET', `/v1/deployables/${encodeURIComponent(options.deployable)}`)).body.id;
      const json = context.format(command) === 'json';
      await readEvents(
        context.client(command, 'notifier'),
        { type: options.type, deployable, since: options.since },
        { follow: options.follow === true, intervalMs: options.interval * 1000, onEvent: (event) => context.say(json ? JSON.stringify(event) : eventLine(event)) },
      );
    });

  const subscriptions = program.command('subscriptions').description('Webhook and email subscriptions to events: list, get, create, delete, redeliver-failed');

  subscriptions
    .command('list')
    .description('List subscriptions, oldest first (never their secrets)')
    .action(async (_options: unknown, command: Command) => {
      const items = await allPages<Subscription>(context.client(command, 'notifier'), '/v1/subscriptions');
      context.show(command, { items }, (body) => (body.items.length === 0 ? 'no subscriptions' : subscriptionsTable(body.items)));
    });

  subscriptions
    .command('get')
    .description('Show one subscription (never its secret)')
    .argument('<id>', 'the subscription id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { body } = await context.client(command, 'notifier').request<Subscription>('GET', `/v1/subscriptions/${encodeURIComponent(id)}`);
      context.show(command, body, (subscription) => subscriptionsTable([subscription]));
    });

  subscriptions
    .command('create')
    .description('Subscribe a webhook (signed; its secret is shown once) or email recipients to events')
    .option('--webhook <url>', 'POST each event to this URL')
    .option('--email <addresses...>', 'email these recipients (digests)')
    .option('--events <types>', 'event types, comma-separated; patterns such as assembly.* work (default: all)')
    .option('--deployables <names>', 'only events about these deployables, comma-separated (default: all)')
    .option('--hook', 'a hook (such as a DNS updater): its final failure is announced as hook.failed')
    .option('--name <name>', 'a name to recognise it by')
    .action(async (options: { webhook?: string; email?: string[]; events?: string; deployables?: string; hook?: boolean; name?: string }, command: Command) => {
      if ((options.webhook === undefined) === (options.email === undefined)) command.error('defib: give either --webhook URL or --email ADDRESS…', { exitCode: 2 });
      const common = {
        name: options.name,
        eventTypes: options.events === undefined ? undefined : list(options.events),
        deployables: options.deployables === undefined ? undefined : list(options.deployables),
      };
      const body = options.webhook === undefined ? { kind: 'email', recipients: options.email, ...common } : { kind: 'webhook', url: options.webhook, hook: options.hook === true, ...common };
      const { body: created } = await context.client(command, 'notifier').request<Subscription & { secret?: string }>('POST', '/v1/subscriptions', { body });
      context.show(command, created, (subscription) =>
        [`subscription ${subscription.id} created`, ...(subscription.secret === undefined ? [] : [`signing secret (shown only now): ${subscription.secret}`])].join('\n'),
      );
    });

  subscriptions
    .command('delete')
    .description('Delete a subscription with its deliveries')
    .argument('<id>', 'the subscription id')
    .action(async (id: string, _options: unknown, command: Command) => {
      await context.client(command, 'notifier').request('DELETE', `/v1/subscriptions/${encodeURIComponent(id)}`);
      context.show(command, { deleted: id }, () => `subscription ${id} deleted`);
    });

  subscriptions
    .command('redeliver-failed')
    .description('Deliver again everything a subscription failed to deliver since a time')
    .argument('<id>', 'the subscription id')
    .option('--since <time>', 'failed since this time (ISO 8601; default: the last 24 hours)')
    .action(async (id: string, options: { since?: string }, command: Command) => {
      const since = options.since ?? new Date(Date.now() - DAY_MS).toISOString();
      const { body } = await context.client(command, 'notifier').request<{ requeued: number }>('POST', `/v1/subscriptions/${encodeURIComponent(id)}/redeliver-failed`, { query: { since } });
      context.show(command, body, (result) => `${result.requeued} failed deliveries requeued`);
    });

  program
    .command('deliveries')
    .description('The delivery log, newest first, with attempts and the last error')
    .option('--subscription <id>', "only this subscription's deliveries")
    .option('--status <status>', 'pending, delivered or failed')
    .option('--limit <n>', 'at most this many (1-200)', '50')
    .action(async (options: { subscription?: string; status?: string; limit: string }, command: Command) => {
      const { body } = await context.client(command, 'notifier').request<{ items: Delivery[] }>('GET', '/v1/deliveries', { query: { subscription: options.subscription, status: options.status, limit: options.limit } });
      context.show(command, body, (page) => (page.items.length === 0 ? 'no deliveries' : deliveriesTable(page.items)));
    });
}
