import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ContractViolation } from './contract-violation.ts';
import {
  createDomainEvent,
  domainEventSchema,
  eventCatalogue,
  eventTypes,
  isEventType,
  parseDomainEvent,
  resourceIdKey,
  routingKeyFor,
  type DomainEvent,
  type DomainEventInit,
  type EventType,
} from './events.ts';
import { validateManifest, type Manifest } from './manifest.ts';

const deployableId = randomUUID();
const assemblyId = randomUUID();
const resourceId = randomUUID();
const incidentId = randomUUID();

const deployable = { deployableId, deployable: 'wordpress' };
const assembly = { ...deployable, assemblyId, assembly: 'db' };
const resource = { ...assembly, resourceId, resource: 'mysqld' };
const addresses = [{ address: '10.0.0.5', type: 'fixed' as const, version: 4 as const }];

function aManifest(): Manifest {
  const result = validateManifest({
    apiVersion: 'defib/v1',
    kind: 'Deployable',
    name: 'wordpress',
    cloud: 'sim-openstack',
    assemblies: [
      { name: 'db', image: 'fedora-40', flavor: 'm1.small', resources: [{ name: 'mysqld' }] },
      { name: 'web', image: 'fedora-40', flavor: 'm1.small', dependsOn: ['db'], resources: [{ name: 'httpd', params: { DB_HOST: { ref: 'db', field: 'address' } } }] },
    ],
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.manifest;
}

/** A valid subject and payload for every catalogued event: adding an event without one fails to compile. */
const samples: { [K in EventType]: Omit<DomainEventInit<K>, 'correlationId'> } = {
  'cloud.registered': { subject: { cloud: 'sim-openstack' }, data: { provider: 'openstack', region: 'RegionOne', endpoint: 'http://localhost:7200/identity/v3', created: true } },
  'cloud.removed': { subject: { cloud: 'sim-openstack' }, data: { provider: 'openstack' } },
  'deployable.applied': {
    subject: deployable,
    data: { version: 1, cloud: 'sim-openstack', assemblies: [{ id: assemblyId, name: 'db', resources: [{ id: resourceId, name: 'mysqld' }] }], changed: true },
  },
  'deployable.deleted': { subject: deployable, data: { version: 3 } },
  'deployable.start-requested': {
    subject: deployable,
    data: {
      version: 1,
      cloud: 'sim-openstack',
      manifest: aManifest(),
      assemblyIds: { db: assemblyId, web: randomUUID() },
      resourceIds: { [resourceIdKey('db', 'mysqld')]: resourceId, [resourceIdKey('web', 'httpd')]: randomUUID() },
    },
  },
  'deployable.stop-requested': { subject: deployable, data: { version: 1 } },
  'deployable.state-changed': { subject: deployable, data: { from: 'running', to: 'degraded' }, reason: 'db is unresponsive' },
  'assembly.launched': { subject: assembly, data: { instanceId: 'srv-1', cloud: 'sim-openstack', addresses } },
  'assembly.stopped': { subject: assembly, data: { instanceId: 'srv-1' } },
  'assembly.recovered': { subject: assembly, data: { instanceId: 'srv-2', addresses, incidentId, step: 'recreate' } },
  'incident.opened': { subject: assembly, data: { incidentId, level: 'assembly', trigger: 'assembly.unresponsive', triggerEventId: randomUUID() } },
  'incident.resolved': { subject: assembly, data: { incidentId, outcome: 'recovered' } },
  'recovery.started': { subject: assembly, data: { incidentId, step: 'reboot' } },
  'recovery.step-succeeded': { subject: assembly, data: { incidentId, step: 'reboot', attempt: 1 } },
  'recovery.step-failed': { subject: resource, data: { incidentId, step: 'restart-resource', attempt: 3, error: 'agent did not answer within 10s' } },
  'recovery.escalated': { subject: resource, data: { incidentId, from: 'restart-resource', to: 'reboot' } },
  'recovery.gave-up': { subject: deployable, data: { incidentId, stepsTried: ['reboot', 'hard-reboot', 'recreate', 'restart-deployable'] } },
  'assembly.running': { subject: assembly, data: { instanceId: 'srv-1', addresses } },
  'assembly.unresponsive': { subject: assembly, data: { instanceId: 'srv-1', lastHeartbeatAt: '2026-01-01T00:00:00.000Z', silentForMs: 3050, missed: 3 } },
  'assembly.failed': { subject: assembly, data: { instanceId: 'srv-1', cloudStatus: 'ERROR' } },
  'assembly.address-changed': { subject: assembly, data: { instanceId: 'srv-1', previous: addresses, current: [{ address: '10.0.0.9', type: 'fixed', version: 4 }] } },
  'resource.failed': { subject: resource, data: { state: 'failed', detail: 'exited with status 1' } },
  'resource.restarted': { subject: resource, data: {} },
  'resource.running': { subject: resource, data: {} },
  'assembly.fenced': { subject: assembly, data: { instanceId: 'srv-1', action: 'terminate', confirmedBy: 'cloud-status', cloudStatus: 'terminated', incidentId } },
  'assembly.state-disputed': { subject: assembly, data: { instanceId: 'srv-1', cloudStatus: 'SHUTOFF', lastHeartbeatAt: '2026-01-01T00:00:00.000Z' } },
  'monitor.degraded': { subject: { monitor: 'host-1/4242/1a2b3c4d' }, data: { cause: 'lagging', lagMs: 850 } },
  'monitor.recovered': { subject: { monitor: 'host-1/4242/1a2b3c4d', cloud: 'sim-openstack' }, data: { cause: 'cloud-unreachable', degradedForMs: 12_000 } },
  'resource.reconfigured': {
    subject: { ...assembly, assemblyId: randomUUID(), assembly: 'web', resourceId: randomUUID(), resource: 'httpd' },
    data: { parameters: [{ name: 'DB_HOST', ref: 'db', field: 'address', value: '10.0.0.9' }], causeEventId: randomUUID() },
  },
  'deployable.maintenance-entered': { subject: deployable, data: { until: '2026-01-01T02:00:00.000Z' }, reason: 'database upgrade' },
  'deployable.maintenance-left': { subject: deployable, data: { ended: 'expired' } },
  'assembly.maintenance-entered': { subject: assembly, data: {} },
  'assembly.maintenance-left': { subject: assembly, data: { ended: 'requested' } },
  'hook.failed': { subject: assembly, data: { subscriptionId: randomUUID(), deliveryId: randomUUID(), eventId: randomUUID(), eventType: 'assembly.failed', attempts: 2, lastError: 'HTTP 500' } },
  'notification.exhausted': { subject: { cloud: 'sim-ec2' }, data: { subscriptionId: randomUUID(), deliveryId: randomUUID(), eventId: randomUUID(), eventType: 'cloud.removed', attempts: 10 } },
};

function anEvent<T extends EventType>(type: T): DomainEvent<T> {
  return createDomainEvent(type, { ...samples[type], correlationId: incidentId });
}

function violationOf(action: () => unknown): ContractViolation {
  try {
    action();
  } catch (error) {
    if (error instanceof ContractViolation) return error;
    throw error;
  }
  throw new Error('expected a ContractViolation');
}

describe('event catalogue', () => {
  it('names every event <subject>.<verb> at version 1 with a description', () => {
    for (const type of eventTypes) {
      expect(type).toMatch(/^[a-z]+\.[a-z-]+$/);
      expect(eventCatalogue[type].version).toBe(1);
      expect(eventCatalogue[type].description.length).toBeGreaterThan(10);
    }
  });

  it('publishes each event under its type', () => {
    expect(routingKeyFor('assembly.unresponsive')).toBe('assembly.unresponsive');
  });

  it('knows its own types', () => {
    expect(isEventType('resource.failed')).toBe(true);
    expect(isEventType('resource.exploded')).toBe(false);
    expect(isEventType('toString')).toBe(false);
  });
});

describe.each(eventTypes)('%s', (type) => {
  it('round-trips through createDomainEvent, JSON and parseDomainEvent', () => {
    const event = anEvent(type);
    expect(event).toMatchObject({ type, version: eventCatalogue[type].version, correlationId: incidentId });
    expect(parseDomainEvent(Buffer.from(JSON.stringify(event)))).toEqual(event);
    expect(domainEventSchema.parse(event)).toEqual(event);
  });

  it('is rejected with a wrong version', () => {
    const violation = violationOf(() => parseDomainEvent({ ...anEvent(type), version: 2 }));
    expect(violation.issues.map((issue) => issue.path)).toEqual(['version']);
  });
});

describe('createDomainEvent', () => {
  it('gives the event a fresh uuid and the current time unless told otherwise', () => {
    const before = Date.now();
    const first = anEvent('resource.running');
    const second = anEvent('resource.running');
    expect(first.id).not.toBe(second.id);
    expect(Date.parse(first.occurredAt)).toBeGreaterThanOrEqual(before);
  });

  it('keeps a given id, time (string or Date) and reason', () => {
    const id = randomUUID();
    const event = createDomainEvent('deployable.stop-requested', { subject: deployable, data: { version: 2 }, correlationId: 'req-1', id, occurredAt: new Date('2026-01-01T00:00:00Z'), reason: 'user request' });
    expect(event).toMatchObject({ id, occurredAt: '2026-01-01T00:00:00.000Z', reason: 'user request' });
  });

  it('rejects a wrong payload, naming the field', () => {
    const violation = violationOf(() =>
      createDomainEvent('recovery.escalated', { subject: assembly, correlationId: incidentId, data: { incidentId, from: 'reboot', to: 'pray' as 'recreate' } }),
    );
    expect(violation.issues.map((issue) => issue.path)).toEqual(['data.to']);
  });

  it('rejects a subject below the level the event requires', () => {
    const violation = violationOf(() => createDomainEvent('resource.failed', { subject: assembly as never, correlationId: incidentId, data: { state: 'failed' } }));
    expect(violation.issues.map((issue) => issue.path).sort()).toEqual(['subject.resource', 'subject.resourceId']);
  });

  it('rejects a subject naming an assembly without its id', () => {
    const violation = violationOf(() => createDomainEvent('incident.resolved', { subject: { ...deployable, assembly: 'db' }, correlationId: incidentId, data: { incidentId, outcome: 'cancelled' } }));
    expect(violation.issues).toEqual([{ path: 'subject.assemblyId', message: 'assemblyId and assembly go together' }]);
  });

  it('rejects a start request whose ids do not cover the manifest', () => {
    const sample = samples['deployable.start-requested'];
    const violation = violationOf(() =>
      createDomainEvent('deployable.start-requested', { ...sample, correlationId: 'req-1', data: { ...sample.data, assemblyIds: { db: assemblyId }, resourceIds: {} } }),
    );
    expect(violation.issues.map((issue) => issue.path).sort()).toEqual(['data.assemblyIds.web', 'data.resourceIds["db/mysqld"]', 'data.resourceIds["web/httpd"]']);
  });

  it('rejects a start request carrying the manifest as the user wrote it', () => {
    const sample = samples['deployable.start-requested'];
    const userManifest = { apiVersion: 'defib/v1', kind: 'Deployable', name: 'wordpress', cloud: 'sim-openstack', assemblies: [{ name: 'db', image: 'i', flavor: 'f', heartbeat: { interval: '1s' } }] };
    expect(() => createDomainEvent('deployable.start-requested', { ...sample, correlationId: 'r', data: { ...sample.data, manifest: userManifest as never } })).toThrow(ContractViolation);
  });

  it('rejects a state change to the same state', () => {
    expect(() => createDomainEvent('deployable.state-changed', { subject: deployable, correlationId: 'c', data: { from: 'running', to: 'running' } })).toThrow(ContractViolation);
  });

  it('closes an incident as errored when recovery could not go on', () => {
    expect(createDomainEvent('incident.resolved', { subject: assembly, correlationId: incidentId, data: { incidentId, outcome: 'errored' } }).data.outcome).toBe('errored');
  });

  it('rejects a reconfiguration that changes nothing or sets something other than an address', () => {
    const sample = samples['resource.reconfigured'];
    const violation = violationOf(() => createDomainEvent('resource.reconfigured', { ...sample, correlationId: 'c', data: { parameters: [] } }));
    expect(violation.issues.map((issue) => issue.path)).toEqual(['data.parameters']);
    const notAnAddress = { name: 'DB_HOST', ref: 'db', field: 'address' as const, value: 'db.example.com' };
    expect(violationOf(() => createDomainEvent('resource.reconfigured', { ...sample, correlationId: 'c', data: { parameters: [notAnAddress] } })).issues.map((issue) => issue.path)).toEqual([
      'data.parameters[0].value',
    ]);
  });

  it('names a monitor replica, not a deployable, in monitor events', () => {
    expect(() => createDomainEvent('monitor.degraded', { subject: deployable as never, correlationId: 'c', data: { cause: 'broker-unreachable' } })).toThrow(ContractViolation);
  });

  it('lets a notifier event be about a monitor replica', () => {
    const subject = { monitor: 'host-1/4242/1a2b3c4d', cloud: 'sim-ec2' };
    const data = { subscriptionId: randomUUID(), deliveryId: randomUUID(), eventId: randomUUID(), eventType: 'monitor.degraded', attempts: 10 };
    expect(createDomainEvent('notification.exhausted', { subject, correlationId: 'c', data }).subject).toEqual(subject);
  });

  it('rejects a fence without the status that confirmed it', () => {
    const { cloudStatus: _status, ...unconfirmed } = samples['assembly.fenced'].data;
    expect(violationOf(() => createDomainEvent('assembly.fenced', { subject: assembly, correlationId: 'c', data: unconfirmed as never })).issues.map((issue) => issue.path)).toEqual([
      'data.cloudStatus',
    ]);
  });

  it('rejects an incident triggered by an uncatalogued event type', () => {
    const violation = violationOf(() => createDomainEvent('incident.opened', { subject: deployable, correlationId: 'c', data: { incidentId, level: 'deployable', trigger: 'vm.sad' } }));
    expect(violation.issues).toEqual([{ path: 'data.trigger', message: 'must be a catalogued event type' }]);
  });
});

describe('parseDomainEvent', () => {
  it('rejects an unknown type', () => {
    const violation = violationOf(() => parseDomainEvent({ ...anEvent('resource.running'), type: 'resource.exploded' }));
    expect(violation.issues).toEqual([{ path: 'type', message: 'is not a catalogued event type' }]);
  });

  it('rejects an event without a type', () => {
    const { type: _type, ...untyped } = anEvent('resource.running');
    expect(violationOf(() => parseDomainEvent(untyped)).issues).toEqual([{ path: 'type', message: 'is required' }]);
  });

  it('rejects a wrong payload', () => {
    const event = anEvent('assembly.unresponsive');
    const violation = violationOf(() => parseDomainEvent({ ...event, data: { ...event.data, silentForMs: -1 } }));
    expect(violation.issues.map((issue) => issue.path)).toEqual(['data.silentForMs']);
  });

  it('rejects unknown fields in the envelope, subject and payload', () => {
    const event = anEvent('resource.restarted');
    const violation = violationOf(() => parseDomainEvent({ ...event, priority: 'high', subject: { ...event.subject, host: 'h1' }, data: { exitCode: 0 } }));
    expect(violation.issues.map((issue) => issue.path).sort()).toEqual(['data.exitCode', 'priority', 'subject.host']);
  });

  it('rejects a bad id, time and empty correlation id', () => {
    const violation = violationOf(() => parseDomainEvent({ ...anEvent('resource.running'), id: '42', occurredAt: 'yesterday', correlationId: '' }));
    expect(violation.issues.map((issue) => issue.path).sort()).toEqual(['correlationId', 'id', 'occurredAt']);
  });

  it('rejects garbage', () => {
    expect(() => parseDomainEvent('not json')).toThrow(ContractViolation);
    expect(() => parseDomainEvent(42)).toThrow(ContractViolation);
    expect(() => parseDomainEvent(null)).toThrow(ContractViolation);
  });

  it('never carries cloud credentials in cloud events', () => {
    const event = anEvent('cloud.registered');
    expect(() => parseDomainEvent({ ...event, data: { ...event.data, credentials: { password: 'secret' } } })).toThrow(ContractViolation);
  });
});
