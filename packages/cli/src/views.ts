/**
 * How each answer reads in a terminal. The shapes are the services' API bodies (only the fields
 * shown are declared); `--output json` prints the bodies themselves instead.
 */
import { cell, renderFields, renderTable, timeOf } from './table.ts';

export interface MaintenanceWindow {
  since: string;
  until?: string;
  reason?: string;
}

export interface Deployable {
  id: string;
  name: string;
  cloud: string;
  version: number;
  desiredState: string;
  assemblies: { id: string; name: string; resources: { id: string; name: string }[] }[];
  createdAt: string;
  updatedAt: string;
  warnings?: string[];
}

export interface DeployableStatus {
  deployable: { id: string; name: string; version: number; desired: string; observed: string; reason: string | null; changedAt: string | null; maintenance: MaintenanceWindow | null };
  assemblies: {
    id: string;
    name: string;
    observed: string;
    instanceId: string | null;
    addresses: unknown[];
    reason: string | null;
    maintenance: MaintenanceWindow | null;
    resources: { id: string; name: string; observed: string }[];
  }[];
  openIncidents: { id: string; level: string; trigger: string; step: string | null; assemblyId: string | null; resourceId: string | null; openedAt: string }[];
  notice?: string | null;
}

export interface Incident {
  id: string;
  deployable: string | null;
  assembly: string | null;
  resource: string | null;
  level: string;
  status: string;
  outcome: string | null;
  trigger: string;
  observations: number;
  lastError: string | null;
  openedAt: string;
  closedAt: string | null;
  steps?: { kind: string; attempt: number; action: string; state: string; reason: string | null; error: string | null; intendedAt: string; actedAt: string | null; finishedAt: string | null }[];
}

export interface DomainEventView {
  id: string;
  type: string;
  occurredAt: string;
  reason?: string;
  subject: Record<string, string | undefined>;
}

export interface Subscription {
  id: string;
  kind: string;
  name: string | null;
  url?: string;
  hook?: boolean;
  recipients?: string[];
  eventTypes: string[];
  deployables: string[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
}

export interface Delivery {
  id: string;
  subscriptionId: string;
  channel: string;
  recipient?: string;
  status: string;
  events: { type: string }[];
  attempts: unknown[];
  lastError: string | null;
  createdAt: string;
}

export interface Cloud {
  name: string;
  provider: string;
  region: string;
  authUrl?: string;
  endpoint?: string;
  warnings?: string[];
}

export function maintenanceOf(window: MaintenanceWindow | null): string {
  if (window === null) return '-';
  const until = window.until === undefined ? 'until ended' : `until ${timeOf(window.until)}`;
  return `since ${timeOf(window.since)} ${until}${window.reason === undefined ? '' : ` (${window.reason})`}`;
}

function addressesOf(addresses: readonly unknown[]): string {
  const texts = addresses.map((entry) => (typeof entry === 'object' && entry !== null && 'address' in entry ? String(entry.address) : String(entry)));
  return texts.length === 0 ? '-' : texts.join(', ');
}

export function deployablesTable(items: readonly Deployable[]): string {
  return renderTable(
    ['name', 'cloud', 'desired', 'version', 'assemblies', 'updated'],
    items.map((item) => [item.name, item.cloud, item.desiredState, String(item.version), item.assemblies.map((assembly) => assembly.name).join(', '), timeOf(item.updatedAt)]),
  );
}

export function deployableView(item: Deployable): string {
  const fields = renderFields([
    ['name', item.name],
    ['id', item.id],
    ['cloud', item.cloud],
    ['desired', item.desiredState],
    ['version', String(item.version)],
    ['updated', timeOf(item.updatedAt)],
  ]);
  const assemblies = renderTable(
    ['assembly', 'resources'],
    item.assemblies.map((assembly) => [assembly.name, cell(assembly.resources.map((resource) => resource.name).join(', '))]),
  );
  return [fields, '', assemblies, ...warningsOf(item.warnings)].join('\n');
}

export function warningsOf(warnings: readonly string[] | undefined): string[] {
  return (warnings ?? []).map((warning) => `warning: ${warning}`);
}

/** A state with the reason it changed, unless it is the healthy one (whose reason says nothing more). */
function withReason(state: string, reason: string | null): string {
  return reason === null || state === 'running' ? state : `${state} (${reason})`;
}

/** `defib status`: the deployable, a row per assembly (instance, addresses, liveness, resources, maintenance), then its open incidents. */
export function statusView(status: DeployableStatus): string {
  const { deployable } = status;
  const head = renderFields([
    ['deployable', `${deployable.name} (version ${deployable.version})`],
    ['desired', deployable.desired],
    ['observed', withReason(deployable.observed, deployable.reason)],
    ['since', timeOf(deployable.changedAt)],
    ['maintenance', maintenanceOf(deployable.maintenance)],
  ]);
  const assemblies = renderTable(
    ['assembly', 'instance', 'addresses', 'state', 'resources', 'maintenance'],
    status.assemblies.map((assembly) => [
      assembly.name,
      cell(assembly.instanceId),
      addressesOf(assembly.addresses),
      withReason(assembly.observed, assembly.reason),
      cell(assembly.resources.map((resource) => `${resource.name}:${resource.observed}`).join(' ')),
      maintenanceOf(assembly.maintenance),
    ]),
  );
  const names = new Map<string, string>();
  for (const assembly of status.assemblies) {
    names.set(assembly.id, assembly.name);
    for (const resource of assembly.resources) names.set(resource.id, `${assembly.name}/${resource.name}`);
  }
  const incidents =
    status.openIncidents.length === 0
      ? 'open incidents: none'
      : `open incidents:\n${renderTable(
          ['incident', 'level', 'target', 'trigger', 'step', 'opened'],
          status.openIncidents.map((incident) => [
            incident.id,
            incident.level,
            names.get(incident.resourceId ?? incident.assemblyId ?? '') ?? deployable.name,
            incident.trigger,
            cell(incident.step),
            timeOf(incident.openedAt),
          ]),
        )}`;
  const notice = status.notice === null || status.notice === undefined ? [] : ['', `notice: ${status.notice}`];
  return [head, '', assemblies, '', incidents, ...notice].join('\n');
}

function targetOf(incident: Incident): string {
  return [incident.deployable ?? '?', incident.assembly, incident.resource].filter((part) => part !== null).join('/');
}

export function incidentsTable(items: readonly Incident[]): string {
  return renderTable(
    ['incident', 'target', 'level', 'status', 'outcome', 'trigger', 'opened', 'closed'],
    items.map((item) => [item.id, targetOf(item), item.level, item.status, cell(item.outcome), item.trigger, timeOf(item.openedAt), timeOf(item.closedAt)]),
  );
}

/** `defib incident ID`: what failed, then every step recovery took, in order. */
export function incidentView(incident: Incident): string {
  const fields = renderFields([
    ['incident', incident.id],
    ['target', `${targetOf(incident)} (${incident.level})`],
    ['trigger', `${incident.trigger} (seen ${incident.observations} times)`],
    ['status', incident.outcome === null ? incident.status : `${incident.status}, ${incident.outcome}`],
    ['opened', timeOf(incident.openedAt)],
    ['closed', timeOf(incident.closedAt)],
    ...(incident.lastError === null ? [] : [['last error', incident.lastError] as const]),
  ]);
  const steps = incident.steps ?? [];
  const timeline =
    steps.length === 0
      ? 'steps: none yet'
      : renderTable(
          ['step', 'attempt', 'action', 'state', 'intended', 'acted', 'finished', 'why'],
          steps.map((step) => [step.kind, String(step.attempt), step.action, step.state, timeOf(step.intendedAt), timeOf(step.actedAt), timeOf(step.finishedAt), cell(step.error ?? step.reason)]),
        );
  return [fields, '', timeline].join('\n');
}

/** What an event is about: `wordpress/db/mysqld`, `cloud sim-openstack`, `monitor host-1/42`. */
export function subjectOf(subject: DomainEventView['subject']): string {
  if (subject.deployable !== undefined) return [subject.deployable, subject.assembly, subject.resource].filter((part) => part !== undefined).join('/');
  if (subject.monitor !== undefined) return `monitor ${subject.monitor}`;
  return `cloud ${subject.cloud ?? '?'}`;
}

/** One line per event: `time type subject reason`. */
export function eventLine(event: DomainEventView): string {
  return [timeOf(event.occurredAt), event.type, subjectOf(event.subject), event.reason ?? ''].join('  ').trimEnd();
}

export function subscriptionsTable(items: readonly Subscription[]): string {
  return renderTable(
    ['id', 'kind', 'name', 'target', 'events', 'deployables', 'enabled'],
    items.map((item) => [
      item.id,
      item.hook === true ? 'webhook (hook)' : item.kind,
      cell(item.name),
      cell(item.url ?? item.recipients?.join(', ')),
      item.eventTypes.join(','),
      item.deployables.length === 0 ? 'all' : item.deployables.join(','),
      item.enabled ? 'yes' : `no (${cell(item.disabledReason)})`,
    ]),
  );
}

export function deliveriesTable(items: readonly Delivery[]): string {
  return renderTable(
    ['delivery', 'subscription', 'to', 'status', 'events', 'attempts', 'last error', 'created'],
    items.map((item) => [
      item.id,
      item.subscriptionId,
      item.recipient ?? item.channel,
      item.status,
      item.events.map((event) => event.type).join(','),
      String(item.attempts.length),
      cell(item.lastError),
      timeOf(item.createdAt),
    ]),
  );
}

export function cloudsTable(items: readonly Cloud[]): string {
  return renderTable(
    ['name', 'provider', 'region', 'endpoint'],
    items.map((item) => [item.name, item.provider, item.region, cell(item.authUrl ?? item.endpoint)]),
  );
}
