/**
 * Which subscriptions an event goes to. A subscription names event types — exact catalogue types
 * (`assembly.failed`), prefix patterns (`assembly.*`, `recovery.*`) or `*` for all — and
 * optionally deployables by name. Patterns are checked against the catalogue when a subscription
 * is written, so a typo is a 400, not a subscription that silently never fires.
 */
import { eventTypes, isEventType, type DomainEvent, type EventType } from '@defib/contracts';

/** What a subscription listens to. */
export interface EventFilter {
  /** Types or patterns; at least one. */
  eventTypes: readonly string[];
  /** Deployable names; empty means every deployable, and events about clouds too. */
  deployables: readonly string[];
}

const PREFIX_PATTERN = /^([a-z][a-z0-9-]*)\.\*$/;

/** Why `pattern` is not a valid event-type filter, or `undefined` if it is. */
export function eventTypePatternProblem(pattern: string): string | undefined {
  if (pattern === '*') return undefined;
  const prefix = PREFIX_PATTERN.exec(pattern)?.[1];
  if (prefix !== undefined) {
    return eventTypes.some((type) => type.startsWith(`${prefix}.`))
      ? undefined
      : `no catalogued event type starts with "${prefix}."; known prefixes: ${[...new Set(eventTypes.map((type) => type.split('.')[0]))].join(', ')}`;
  }
  if (isEventType(pattern)) return undefined;
  return `is not a catalogued event type (or a pattern such as assembly.* or *)`;
}

/** Whether an event type matches one pattern. */
export function typeMatches(pattern: string, type: EventType): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/** The deployable an event is about, if it is about one. */
export function deployableOf(event: DomainEvent): string | undefined {
  const subject = event.subject as { deployable?: string };
  return subject.deployable;
}

/**
 * What an event is about, for grouping and subjects: `deployable:wordpress`, `cloud:sim-openstack`
 * (a monitor replica's event about one cloud too), `monitor:<replica>`.
 */
export function groupKeyOf(event: DomainEvent): string {
  const subject = event.subject as { deployable?: string; cloud?: string; monitor?: string };
  if (subject.deployable !== undefined) return `deployable:${subject.deployable}`;
  if (subject.cloud === undefined && subject.monitor !== undefined) return `monitor:${subject.monitor}`;
  return `cloud:${subject.cloud ?? 'unknown'}`;
}

/** Whether `event` passes `filter`. */
export function matchesFilter(filter: EventFilter, event: DomainEvent): boolean {
  if (!filter.eventTypes.some((pattern) => typeMatches(pattern, event.type))) return false;
  if (filter.deployables.length === 0) return true;
  const deployable = deployableOf(event);
  return deployable !== undefined && filter.deployables.includes(deployable);
}

/** Events the notifier itself emits about deliveries; failures to deliver them emit nothing more. */
export const DELIVERY_EVENT_TYPES: ReadonlySet<EventType> = new Set<EventType>(['hook.failed', 'notification.exhausted']);
