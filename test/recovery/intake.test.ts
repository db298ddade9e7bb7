/**
 * Recovery's intake on a real PostgreSQL: what each event writes, what it folds, what it ignores,
 * and that it wakes the runner (due now, a notification naming the deployable).
 */
import { isEventType, type DomainEvent } from '@defib/contracts';
import { consumedEventTypes, WORK_CHANNEL, type IncidentRow } from '@defib/recovery';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { assemblySubject, domainEvent, intake, migratedRecoveryDatabase, resourceSubject, startRequested, subjectOf, testDeployable, type RecoveryDatabase, type TestDeployable } from './recovery-fixtures.ts';

describe('recovery intake', () => {
  let recovery: RecoveryDatabase;
  let handle: (...events: DomainEvent[]) => Promise<void>;
  let listener: pg.Client;
  const notified: string[] = [];
  let deployable: TestDeployable;

  const db = () => recovery.database.db;
  const deployableRow = () => db().selectFrom('deployables').selectAll().where('id', '=', deployable.deployableId).executeTakeFirstOrThrow();
  const assemblyRow = (name: 'db' | 'web' | 'cache') => db().selectFrom('assemblies').selectAll().where('id', '=', deployable.assemblyIds[name]).executeTakeFirstOrThrow();
  const incidents = (): Promise<IncidentRow[]> => db().selectFrom('incidents').selectAll().where('deployable_id', '=', deployable.deployableId).orderBy('opened_at').execute();
  const openedEvents = async () => {
    const rows = await db().selectFrom('outbox').select('event').where('type', '=', 'incident.opened').execute();
    return rows.map((row) => row.event as DomainEvent<'incident.opened'>).filter((event) => event.subject.deployableId === deployable.deployableId);
  };
  const setInstance = (name: 'db' | 'web' | 'cache', instanceId: string) => db().updateTable('assemblies').set({ instance_id: instanceId }).where('id', '=', deployable.assemblyIds[name]).execute();
  const notDue = () => db().updateTable('deployables').set({ due_at: null }).where('id', '=', deployable.deployableId).execute();

  const assemblyFailed = (instanceId = 'i-db-1', cloudStatus = 'SHUTOFF') =>
    domainEvent('assembly.failed', { subject: assemblySubject(deployable, 'db'), data: { instanceId, cloudStatus, failure: 'crashed' }, reason: `the cloud says ${cloudStatus}` });
  const unresponsive = (instanceId?: string) =>
    domainEvent('assembly.unresponsive', { subject: assemblySubject(deployable, 'db'), data: { ...(instanceId === undefined ? {} : { instanceId }), silentForMs: 3_000, missed: 3, failure: 'hung-or-partitioned', cloudStatus: 'ACTIVE' } });
  const resourceFailed = (resource: 'db/mysqld' | 'web/httpd' = 'db/mysqld') =>
    domainEvent('resource.failed', { subject: resourceSubject(deployable, resource), data: { state: 'failed', detail: 'exit code 1' } });

  beforeAll(async () => {
    recovery = await migratedRecoveryDatabase();
    handle = intake(recovery.database).handle;
    listener = new pg.Client({ connectionString: recovery.url });
    await listener.connect();
    listener.on('notification', (message) => notified.push(message.payload ?? ''));
    await listener.query(`listen ${WORK_CHANNEL}`);
  });

  afterAll(async () => {
    await listener?.end();
    await recovery?.close();
  });

  beforeEach(async () => {
    deployable = testDeployable();
    await handle(startRequested(deployable));
  });

  it('consumes only catalogued events, with a handler for each', () => {
    expect(consumedEventTypes.filter((type) => !isEventType(type))).toEqual([]);
    expect(Object.keys(intake(recovery.database).handlers).sort()).toEqual([...consumedEventTypes].sort());
  });

  describe('start, stop and delete requests', () => {
    it('records a started deployable as stopped and wanted running, with an absent assembly for each in the manifest, and wakes the runner', async () => {
      const row = await deployableRow();
      expect(row).toMatchObject({ name: deployable.name, cloud: 'sim-openstack', version: 1, desired: 'running', state: 'stopped', assembly_ids: deployable.assemblyIds, resource_ids: deployable.resourceIds });
      expect(row.manifest.assemblies.map((assembly) => assembly.name)).toEqual(['db', 'web', 'cache']);
      expect(row.due_at).not.toBeNull();
      for (const name of ['db', 'web', 'cache'] as const) expect(await assemblyRow(name)).toMatchObject({ name, phase: 'absent', instance_id: null, deployable_id: deployable.deployableId });
      await waitFor(() => (notified.includes(deployable.deployableId) ? true : undefined), { timeoutMs: 5_000, what: 'a notification naming the deployable' });
    });

    it('ignores a start request older than the stored version (redelivered out of order)', async () => {
      const v3 = startRequested(deployable, 3);
      await handle(v3, startRequested(deployable, 2));
      expect((await deployableRow()).version).toBe(3);
    });

    it('takes a newer version without touching the state of what runs, adding the assemblies it did not have', async () => {
      await db().updateTable('deployables').set({ state: 'running' }).where('id', '=', deployable.deployableId).execute();
      await db().updateTable('assemblies').set({ phase: 'running', instance_id: 'i-db-1' }).where('deployable_id', '=', deployable.deployableId).execute();
      await db().deleteFrom('assemblies').where('id', '=', deployable.assemblyIds.cache).execute();
      await handle(startRequested(deployable, 2));
      expect(await deployableRow()).toMatchObject({ version: 2, state: 'running', desired: 'running' });
      expect(await assemblyRow('db')).toMatchObject({ phase: 'running', instance_id: 'i-db-1' });
      expect(await assemblyRow('cache')).toMatchObject({ phase: 'absent' });
    });

    it('wants a stopped deployable running again on a start request of the same version', async () => {
      await handle(domainEvent('deployable.stop-requested', { subject: subjectOf(deployable), data: { version: 1 } }));
      expect((await deployableRow()).desired).toBe('stopped');
      await notDue();
      await handle(startRequested(deployable, 1));
      expect(await deployableRow()).toMatchObject({ desired: 'running', version: 1 });
      expect((await deployableRow()).due_at).not.toBeNull();
    });

    it('records stop and delete requests as what is wanted, and wakes the runner', async () => {
      await notDue();
      await handle(domainEvent('deployable.stop-requested', { subject: subjectOf(deployable), data: { version: 1 } }));
      expect(await deployableRow()).toMatchObject({ desired: 'stopped', state: 'stopped' });
      expect((await deployableRow()).due_at).not.toBeNull();
      await handle(domainEvent('deployable.deleted', { subject: subjectOf(deployable), data: { version: 1 } }));
      expect((await deployableRow()).desired).toBe('deleted');
    });

    it('ignores a stop request older than the stored version', async () => {
      await handle(startRequested(deployable, 2), domainEvent('deployable.stop-requested', { subject: subjectOf(deployable), data: { version: 1 } }));
      expect((await deployableRow()).desired).toBe('running');
    });

    it('ignores events about deployables and assemblies it does not know, without failing', async () => {
      const stranger = testDeployable();
      await handle(
        domainEvent('deployable.stop-requested', { subject: subjectOf(stranger), data: { version: 1 } }),
        domainEvent('deployable.deleted', { subject: subjectOf(stranger), data: { version: 1 } }),
        domainEvent('assembly.failed', { subject: assemblySubject(stranger, 'db'), data: { instanceId: 'i-1', cloudStatus: 'ERROR' } }),
        domainEvent('resource.failed', { subject: resourceSubject(stranger, 'db/mysqld'), data: { state: 'failed' } }),
        domainEvent('assembly.address-changed', { subject: assemblySubject(stranger, 'db'), data: { instanceId: 'i-1', previous: [], current: [] } }),
        domainEvent('assembly.running', { subject: assemblySubject(stranger, 'db'), data: { instanceId: 'i-1', addresses: [] } }),
        domainEvent('deployable.maintenance-entered', { subject: subjectOf(stranger), data: {} }),
        domainEvent('assembly.maintenance-entered', { subject: assemblySubject(stranger, 'db'), data: {} }),
        // A known deployable, another one's assembly.
        domainEvent('assembly.failed', { subject: { ...subjectOf(deployable), assemblyId: stranger.assemblyIds.db, assembly: 'db' }, data: { instanceId: 'i-1', cloudStatus: 'ERROR' } }),
        // A known resource, named under an assembly that does not run it.
        domainEvent('resource.failed', { subject: { ...assemblySubject(deployable, 'db'), resourceId: deployable.resourceIds['web/httpd'], resource: 'httpd' }, data: { state: 'failed' } }),
      );
      expect(await db().selectFrom('deployables').select('id').where('id', '=', stranger.deployableId).execute()).toEqual([]);
      expect(await db().selectFrom('incidents').select('id').where('deployable_id', 'in', [stranger.deployableId, deployable.deployableId]).execute()).toEqual([]);
    });
  });

  describe('failures', () => {
    it('opens an assembly incident on the first failure and announces it under the incident id', async () => {
      await setInstance('db', 'i-db-1');
      await notDue();
      const failed = assemblyFailed();
      await handle(failed);
      const [incident, ...others] = await incidents();
      expect(others).toEqual([]);
      expect(incident).toMatchObject({
        level: 'assembly',
        status: 'open',
        assembly_id: deployable.assemblyIds.db,
        resource_id: null,
        trigger: 'assembly.failed',
        trigger_event_id: failed.id,
        observations: 1,
        failure: { type: 'assembly.failed', eventId: failed.id, kind: 'crashed', cloudStatus: 'SHUTOFF', instanceId: 'i-db-1', detail: 'the cloud says SHUTOFF', at: failed.occurredAt },
      });
      expect((await deployableRow()).due_at).not.toBeNull();
      const [opened, ...more] = await openedEvents();
      expect(more).toEqual([]);
      expect(opened).toMatchObject({
        correlationId: incident?.id,
        subject: assemblySubject(deployable, 'db'),
        data: { incidentId: incident?.id, level: 'assembly', trigger: 'assembly.failed', triggerEventId: failed.id },
      });
    });

    it('folds later failures of the same assembly into its open incident, keeping the latest observation', async () => {
      await handle(assemblyFailed('i-db-1', 'SHUTOFF'), unresponsive(), assemblyFailed('i-db-1', 'ERROR'));
      const [incident, ...others] = await incidents();
      expect(others).toEqual([]);
      expect(incident).toMatchObject({ observations: 3, trigger: 'assembly.failed', failure: { type: 'assembly.failed', cloudStatus: 'ERROR' } });
      expect(await openedEvents()).toHaveLength(1);
    });

    it("folds a resource's failure into its assembly's open incident", async () => {
      await handle(unresponsive(), resourceFailed('db/mysqld'));
      const [incident, ...others] = await incidents();
      expect(others).toEqual([]);
      expect(incident).toMatchObject({ level: 'assembly', observations: 2, failure: { type: 'resource.failed', kind: 'resource-failed', detail: 'failed: exit code 1' } });
    });

    it('opens a resource incident for a resource failing on its own, and folds its repeats into it', async () => {
      await handle(resourceFailed('web/httpd'), resourceFailed('web/httpd'));
      const [incident, ...others] = await incidents();
      expect(others).toEqual([]);
      expect(incident).toMatchObject({ level: 'resource', assembly_id: deployable.assemblyIds.web, resource_id: deployable.resourceIds['web/httpd'], observations: 2, trigger: 'resource.failed' });
      const [opened] = await openedEvents();
      expect(opened).toMatchObject({ subject: resourceSubject(deployable, 'web/httpd'), data: { level: 'resource' } });
    });

    it('folds every failure into an open deployable-level incident', async () => {
      await db()
        .insertInto('incidents')
        .values({ id: crypto.randomUUID(), deployable_id: deployable.deployableId, level: 'deployable', status: 'errored', trigger: 'assembly.failed', failure: JSON.stringify({ type: 'assembly.failed', at: new Date().toISOString() }) })
        .execute();
      await handle(assemblyFailed(), resourceFailed('web/httpd'));
      const [incident, ...others] = await incidents();
      expect(others).toEqual([]);
      expect(incident).toMatchObject({ level: 'deployable', observations: 3, failure: { type: 'resource.failed' } });
    });

    it('ignores a failure of an old VM the assembly no longer runs', async () => {
      await setInstance('db', 'i-db-2');
      await handle(assemblyFailed('i-db-1'), unresponsive('i-db-1'));
      expect(await incidents()).toEqual([]);
      await handle(unresponsive());
      expect(await incidents()).toHaveLength(1);
    });

    it('ignores failures of a deployable that is not wanted running', async () => {
      await handle(domainEvent('deployable.stop-requested', { subject: subjectOf(deployable), data: { version: 1 } }), assemblyFailed(), resourceFailed());
      expect(await incidents()).toEqual([]);
    });

    it('opens one incident for two failures of one assembly handled at once', async () => {
      await setInstance('db', 'i-db-1');
      await Promise.all([handle(assemblyFailed()), handle(unresponsive('i-db-1')), handle(assemblyFailed('i-db-1', 'ERROR'))]);
      const [incident, ...others] = await incidents();
      expect(others).toEqual([]);
      expect(incident?.observations).toBe(3);
      expect(await openedEvents()).toHaveLength(1);
    });
  });

  describe('maintenance', () => {
    it('sets and clears the flags, waking the runner, and still records failures in maintenance', async () => {
      await handle(domainEvent('deployable.maintenance-entered', { subject: subjectOf(deployable), data: {} }), domainEvent('assembly.maintenance-entered', { subject: assemblySubject(deployable, 'web'), data: {} }));
      expect((await deployableRow()).maintenance).toBe(true);
      expect((await assemblyRow('web')).maintenance).toBe(true);
      expect((await assemblyRow('db')).maintenance).toBe(false);
      await handle(assemblyFailed());
      expect(await incidents()).toHaveLength(1);
      await notDue();
      await handle(domainEvent('deployable.maintenance-left', { subject: subjectOf(deployable), data: { ended: 'requested' } }), domainEvent('assembly.maintenance-left', { subject: assemblySubject(deployable, 'web'), data: { ended: 'expired' } }));
      expect(await deployableRow()).toMatchObject({ maintenance: false });
      expect((await deployableRow()).due_at).not.toBeNull();
      expect((await assemblyRow('web')).maintenance).toBe(false);
    });
  });

  describe('signs of life', () => {
    const running = (instanceId: string) => domainEvent('assembly.running', { subject: assemblySubject(deployable, 'db'), data: { instanceId, addresses: [{ address: '10.0.0.7', type: 'fixed', version: 4 }] } });

    it("records the current VM's addresses when it runs, and wakes the runner only when an open incident is about it", async () => {
      await setInstance('db', 'i-db-1');
      await notDue();
      await handle(running('i-db-1'));
      expect((await assemblyRow('db')).addresses).toEqual([{ address: '10.0.0.7', type: 'fixed', version: 4 }]);
      expect((await deployableRow()).due_at).toBeNull();
      await handle(assemblyFailed());
      await notDue();
      await handle(running('i-db-1'));
      expect((await deployableRow()).due_at).not.toBeNull();
    });

    it("does not take an old VM's addresses", async () => {
      await setInstance('db', 'i-db-2');
      await handle(running('i-db-1'));
      expect((await assemblyRow('db')).addresses).toEqual([]);
    });

    it('wakes the runner when a resource with an open incident runs again, or its assembly recovers', async () => {
      await handle(resourceFailed('web/httpd'));
      await notDue();
      await handle(domainEvent('resource.running', { subject: resourceSubject(deployable, 'db/mysqld'), data: {} }));
      expect((await deployableRow()).due_at).toBeNull();
      await handle(domainEvent('resource.running', { subject: resourceSubject(deployable, 'web/httpd'), data: {} }));
      expect((await deployableRow()).due_at).not.toBeNull();
      await notDue();
      const [incident] = await incidents();
      await handle(domainEvent('assembly.recovered', { subject: assemblySubject(deployable, 'web'), data: { instanceId: 'i-web-1', addresses: [], incidentId: incident?.id ?? '' } }));
      expect((await deployableRow()).due_at).not.toBeNull();
    });
  });

  describe('address changes', () => {
    const changed = (instanceId: string, address: string) =>
      domainEvent('assembly.address-changed', {
        subject: assemblySubject(deployable, 'db'),
        data: { instanceId, previous: [{ address: '10.0.0.7', type: 'fixed', version: 4 }], current: [{ address, type: 'fixed', version: 4 }] },
      });
    const reconfigurations = () => db().selectFrom('reconfigurations').selectAll().where('deployable_id', '=', deployable.deployableId).execute();

    it('records the new addresses and queues a reconfiguration of each resource referencing the assembly, and only those', async () => {
      await setInstance('db', 'i-db-1');
      await notDue();
      const event = changed('i-db-1', '10.0.0.8');
      await handle(event);
      expect((await assemblyRow('db')).addresses).toEqual([{ address: '10.0.0.8', type: 'fixed', version: 4 }]);
      expect(await reconfigurations()).toEqual([
        expect.objectContaining({ assembly_id: deployable.assemblyIds.web, resource: 'httpd', cause_event_id: event.id, attempts: 0, not_before: null }),
      ]);
      expect((await deployableRow()).due_at).not.toBeNull();
    });

    it('starts a pending reconfiguration afresh on a later change', async () => {
      await setInstance('db', 'i-db-1');
      await handle(changed('i-db-1', '10.0.0.8'));
      await db().updateTable('reconfigurations').set({ attempts: 2, not_before: new Date(Date.now() + 60_000), last_error: 'agent silent' }).where('deployable_id', '=', deployable.deployableId).execute();
      const later = changed('i-db-1', '10.0.0.9');
      await handle(later);
      expect(await reconfigurations()).toEqual([expect.objectContaining({ resource: 'httpd', cause_event_id: later.id, attempts: 0, not_before: null, last_error: null })]);
    });

    it("ignores an old VM's address change", async () => {
      await setInstance('db', 'i-db-2');
      await handle(changed('i-db-1', '10.0.0.8'));
      expect((await assemblyRow('db')).addresses).toEqual([]);
      expect(await reconfigurations()).toEqual([]);
    });
  });
});
