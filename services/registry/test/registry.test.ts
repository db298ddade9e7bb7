import { randomUUID } from 'node:crypto';
import { createDomainEvent, type DomainEvent } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/index.ts';
import { ec2Cloud, openstackCloud, READ_TOKEN, startRegistry, wordpressManifest, type RegistryHarness } from './registry-harness.ts';

interface DeployableBody {
  id: string;
  name: string;
  version: number;
  desiredState: string;
  assemblies: { id: string; name: string; resources: { id: string; name: string }[] }[];
}

function ofType<T extends DomainEvent['type']>(type: T, deployable?: string) {
  return (event: DomainEvent): event is Extract<DomainEvent, { type: T }> =>
    event.type === type && (deployable === undefined || (event.subject as { deployable?: string }).deployable === deployable);
}

describe('registry', () => {
  let registry: RegistryHarness;

  beforeAll(async () => {
    registry = await startRegistry();
    const response = await registry.request('PUT', '/v1/clouds/sim-openstack', { body: openstackCloud });
    expect(response.status).toBe(201);
  });

  afterAll(async () => {
    await registry?.close();
  });

  describe('clouds', () => {
    it('registers a cloud, replaces it idempotently and never returns its credentials', async () => {
      const created = await registry.request('PUT', '/v1/clouds/sim-ec2', { body: ec2Cloud });
      expect(created.status).toBe(201);
      const replaced = await registry.request('PUT', '/v1/clouds/sim-ec2', { body: ec2Cloud });
      expect(replaced.status).toBe(200);
      const shown = await registry.request('GET', '/v1/clouds/sim-ec2', { token: READ_TOKEN });
      const text = await shown.text();
      expect(shown.status).toBe(200);
      expect(JSON.parse(text)).toMatchObject({ name: 'sim-ec2', provider: 'ec2', endpoint: ec2Cloud.endpoint, region: 'us-east-1' });
      expect(text).not.toContain(ec2Cloud.credentials.secretAccessKey);
      expect(text).not.toContain(ec2Cloud.credentials.accessKeyId);
      const listed = await (await registry.request('GET', '/v1/clouds', { token: READ_TOKEN })).text();
      expect((JSON.parse(listed) as { items: { name: string }[] }).items.map((cloud) => cloud.name)).toEqual(['sim-ec2', 'sim-openstack']);
      expect(listed).not.toContain(openstackCloud.credentials.password);
    });

    it('keeps credentials encrypted at rest and out of events and logs', async () => {
      const rows = await registry.service.kernel.database.db.selectFrom('clouds').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(openstackCloud.credentials.password);
      expect(await registry.service.clouds.registration('sim-openstack')).toMatchObject({ credentials: openstackCloud.credentials });
      const registered = await registry.eventMatching((event): event is DomainEvent => event.type === 'cloud.registered', 'cloud.registered');
      expect(registered.subject).toEqual({ cloud: 'sim-openstack' });
      expect(JSON.stringify(registry.events)).not.toContain(openstackCloud.credentials.password);
      expect(registry.logs.join('\n')).not.toContain(openstackCloud.credentials.password);
      expect(registry.logs.join('\n')).not.toContain(ec2Cloud.credentials.secretAccessKey);
    });

    it('refuses to remove a cloud a deployable uses, and removes an unused one', async () => {
      await registry.request('PUT', '/v1/deployables/uses-ec2', { body: wordpressManifest({ name: 'uses-ec2', cloud: 'sim-ec2' }) });
      const refused = await registry.request('DELETE', '/v1/clouds/sim-ec2');
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { detail: string }).detail).toContain('uses-ec2');
      expect((await registry.request('DELETE', '/v1/deployables/uses-ec2')).status).toBe(204);
      expect((await registry.request('DELETE', '/v1/clouds/sim-ec2')).status).toBe(204);
      expect((await registry.request('GET', '/v1/clouds/sim-ec2')).status).toBe(404);
      await registry.eventMatching((event): event is DomainEvent => event.type === 'cloud.removed', 'cloud.removed');
    });
  });

  describe('deployables', () => {
    let applied: DeployableBody;

    it('stores an applied manifest at version 1 and announces it', async () => {
      const response = await registry.request('PUT', '/v1/deployables/wordpress', { body: wordpressManifest() });
      expect(response.status).toBe(201);
      applied = (await response.json()) as DeployableBody;
      expect(applied).toMatchObject({ name: 'wordpress', version: 1, desiredState: 'stopped' });
      expect(applied.assemblies.map((assembly) => assembly.name)).toEqual(['db', 'web']);
      const event = await registry.eventMatching(ofType('deployable.applied', 'wordpress'), 'deployable.applied');
      expect(event.subject.deployableId).toBe(applied.id);
      expect(event.data).toMatchObject({ version: 1, cloud: 'sim-openstack', changed: true });
    });

    it('shows the manifest as written and as Defib acts on it, every default filled in', async () => {
      const shown = (await (await registry.request('GET', '/v1/deployables/wordpress')).json()) as { manifest: unknown; effectiveManifest: { assemblies: Record<string, unknown>[] } };
      expect(shown.manifest).toEqual(wordpressManifest());
      const [, web] = shown.effectiveManifest.assemblies;
      expect(wordpressManifest().assemblies[1]).not.toHaveProperty('heartbeat');
      expect(web).toMatchObject({ name: 'web', heartbeat: { interval: expect.stringMatching(/^\d+(ms|s|m|h|d)$/) as unknown }, escalation: expect.anything() as unknown });
      expect((web?.resources as Record<string, unknown>[])[0]).toMatchObject({ name: 'httpd', monitor: expect.anything() as unknown, escalation: expect.anything() as unknown });
    });

    it('treats the same manifest applied again, even as YAML, as no change', async () => {
      const yaml = [
        'apiVersion: defib/v1',
        'kind: Deployable',
        'name: wordpress',
        'cloud: sim-openstack',
        'assemblies:',
        '  - name: db',
        '    image: fedora-40',
        '    flavor: m1.small',
        '    resources: [{ name: mysqld }]',
        '  - name: web',
        '    image: fedora-40',
        '    flavor: m1.small',
        '    dependsOn: [db]',
        '    resources:',
        '      - name: httpd',
        '        params: { DB_HOST: { ref: db, field: address } }',
      ].join('\n');
      const before = registry.events.filter(ofType('deployable.applied', 'wordpress')).length;
      const response = await registry.request('PUT', '/v1/deployables/wordpress', { raw: yaml, contentType: 'application/yaml' });
      expect(response.status).toBe(200);
      expect(response.headers.get('defib-apply-outcome')).toBe('unchanged');
      expect(((await response.json()) as DeployableBody).version).toBe(1);
      const marker = await registry.request('PUT', '/v1/deployables/marker', { body: wordpressManifest({ name: 'marker' }) });
      expect(marker.status).toBe(201);
      await registry.eventMatching(ofType('deployable.applied', 'marker'), 'the marker event');
      expect(registry.events.filter(ofType('deployable.applied', 'wordpress'))).toHaveLength(before);
    });

    it('gives a changed manifest the next version and keeps the ids of what persists', async () => {
      const manifest = wordpressManifest();
      manifest.assemblies.push({ name: 'cache', image: 'fedora-40', flavor: 'm1.tiny', resources: [{ name: 'redis' }] });
      const response = await registry.request('PUT', '/v1/deployables/wordpress', { body: manifest });
      expect(response.status).toBe(200);
      const updated = (await response.json()) as DeployableBody;
      expect(updated.version).toBe(2);
      expect(updated.assemblies.find((assembly) => assembly.name === 'db')?.id).toBe(applied.assemblies.find((assembly) => assembly.name === 'db')?.id);
      expect(updated.assemblies.map((assembly) => assembly.name)).toEqual(['cache', 'db', 'web']);
      await registry.eventMatching((event): event is DomainEvent => ofType('deployable.applied', 'wordpress')(event) && event.data.version === 2, 'version 2 applied');
    });

    it('lists deployables a page at a time and filters by cloud', async () => {
      for (const name of ['alpha', 'beta', 'gamma']) {
        expect((await registry.request('PUT', `/v1/deployables/${name}`, { body: wordpressManifest({ name }) })).status).toBe(201);
      }
      const names: string[] = [];
      let cursor: string | null = null;
      do {
        const page = (await (await registry.request('GET', `/v1/deployables?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, { token: READ_TOKEN })).json()) as { items: DeployableBody[]; nextCursor: string | null };
        expect(page.items.length).toBeLessThanOrEqual(2);
        names.push(...page.items.map((item) => item.name));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(names).toEqual(['alpha', 'beta', 'gamma', 'marker', 'wordpress']);
      const filtered = (await (await registry.request('GET', '/v1/deployables?cloud=nowhere')).json()) as { items: unknown[] };
      expect(filtered.items).toEqual([]);
    });

    it('records start and stop as desired state and asks recovery to act', async () => {
      const started = await registry.request('POST', '/v1/deployables/wordpress/start');
      expect(started.status).toBe(202);
      expect(((await started.json()) as DeployableBody).desiredState).toBe('running');
      const request = await registry.eventMatching(ofType('deployable.start-requested', 'wordpress'), 'start-requested');
      expect(request.data.version).toBe(2);
      expect(request.data.manifest.assemblies.find((assembly) => assembly.name === 'db')?.heartbeat).toEqual({ intervalMs: 1000, missed: 3 });
      expect(Object.keys(request.data.assemblyIds).sort()).toEqual(['cache', 'db', 'web']);
      expect(request.data.resourceIds['db/mysqld']).toBeDefined();

      const refused = await registry.request('DELETE', '/v1/deployables/wordpress');
      expect(refused.status).toBe(409);

      const stopped = await registry.request('POST', '/v1/deployables/wordpress/stop');
      expect(stopped.status).toBe(202);
      await registry.eventMatching(ofType('deployable.stop-requested', 'wordpress'), 'stop-requested');
    });

    it('deletes a running deployable only when forced, stopping it first', async () => {
      await registry.request('POST', '/v1/deployables/gamma/start');
      expect((await registry.request('DELETE', '/v1/deployables/gamma')).status).toBe(409);
      expect((await registry.request('DELETE', '/v1/deployables/gamma?force=true')).status).toBe(204);
      await registry.eventMatching(ofType('deployable.deleted', 'gamma'), 'deployable.deleted');
      expect(registry.events.some(ofType('deployable.stop-requested', 'gamma'))).toBe(true);
      expect((await registry.request('GET', '/v1/deployables/gamma')).status).toBe(404);
    });
  });

  describe('observed status', () => {
    let deployable: DeployableBody;

    function subject() {
      return { deployableId: deployable.id, deployable: deployable.name };
    }

    function assemblySubject(name: string) {
      const assembly = deployable.assemblies.find((candidate) => candidate.name === name);
      if (assembly === undefined) throw new Error(`no assembly ${name}`);
      return { ...subject(), assemblyId: assembly.id, assembly: assembly.name };
    }

    function resourceSubject(assemblyName: string, name: string) {
      const assembly = assemblySubject(assemblyName);
      const resource = deployable.assemblies.find((candidate) => candidate.name === assemblyName)?.resources.find((candidate) => candidate.name === name);
      if (resource === undefined) throw new Error(`no resource ${name}`);
      return { ...assembly, resourceId: resource.id, resource: resource.name };
    }

    async function status() {
      return (await (await registry.request('GET', '/v1/deployables/alpha/status', { token: READ_TOKEN })).json()) as {
        deployable: { desired: string; observed: string };
        assemblies: { name: string; observed: string; instanceId: string | null; addresses: unknown[]; resources: { name: string; observed: string; reason: string | null }[] }[];
        openIncidents: { id: string; step: string | null }[];
        recentEvents: { id: string; type: string }[];
        notice: string | null;
      };
    }

    beforeAll(async () => {
      deployable = (await (await registry.request('GET', '/v1/deployables/alpha')).json()) as DeployableBody;
      await registry.request('POST', '/v1/deployables/alpha/start');
    });

    it('starts from the desired state with nothing observed, its own events among the recent ones', async () => {
      const current = await status();
      expect(current.deployable).toMatchObject({ desired: 'running', observed: 'stopped' });
      expect(current.assemblies.map((assembly) => assembly.observed)).toEqual(['pending', 'pending']);
      expect(current.recentEvents.map((event) => event.type)).toEqual(['deployable.start-requested', 'deployable.applied']);
    });

    it('says plainly when nothing has acted on the start request for longer than the configured time', async () => {
      const notice = await waitFor(async () => (await status()).notice ?? undefined, { what: 'the unacted-start notice', intervalMs: 100 });
      expect(notice).toMatch(/^the start was requested \d+m?s ago and nothing has acted on it yet: no recovery service has picked up the request/);
    });

    it('projects what the monitor and recovery report: instances, addresses, failures and incidents', async () => {
      const correlationId = randomUUID();
      const incidentId = randomUUID();
      const address = { address: '10.0.0.5', type: 'fixed' as const, version: 4 as const };
      const events = [
        createDomainEvent('deployable.state-changed', { subject: subject(), data: { from: 'stopped', to: 'starting' }, correlationId, occurredAt: new Date(Date.now() - 5000) }),
        createDomainEvent('assembly.launched', { subject: assemblySubject('db'), data: { instanceId: 'i-db-1', cloud: 'sim-openstack', addresses: [address] }, correlationId, occurredAt: new Date(Date.now() - 4000) }),
        createDomainEvent('assembly.running', { subject: assemblySubject('db'), data: { instanceId: 'i-db-1', addresses: [address] }, correlationId, occurredAt: new Date(Date.now() - 3000) }),
        createDomainEvent('deployable.state-changed', { subject: subject(), data: { from: 'starting', to: 'running' }, correlationId, occurredAt: new Date(Date.now() - 2500) }),
        createDomainEvent('resource.failed', { subject: resourceSubject('db', 'mysqld'), data: { state: 'failed', detail: 'exited with 137' }, correlationId, occurredAt: new Date(Date.now() - 2000) }),
        createDomainEvent('incident.opened', { subject: resourceSubject('db', 'mysqld'), data: { incidentId, level: 'resource', trigger: 'resource.failed' }, correlationId: incidentId, occurredAt: new Date(Date.now() - 1900) }),
        createDomainEvent('recovery.started', { subject: resourceSubject('db', 'mysqld'), data: { incidentId, step: 'restart-resource' }, correlationId: incidentId, occurredAt: new Date(Date.now() - 1800) }),
      ];
      const registryOwn = (await status()).recentEvents.length;
      for (const event of events) await registry.publish(event);
      const current = await waitFor(
        async () => {
          const snapshot = await status();
          return snapshot.recentEvents.length === registryOwn + events.length ? snapshot : undefined;
        },
        { what: 'all events projected' },
      );
      expect(current.deployable.observed).toBe('running');
      const db = current.assemblies.find((assembly) => assembly.name === 'db');
      expect(db).toMatchObject({ observed: 'running', instanceId: 'i-db-1', addresses: [address] });
      expect(db?.resources).toEqual([expect.objectContaining({ name: 'mysqld', observed: 'failed', reason: 'exited with 137' })]);
      expect(current.openIncidents).toEqual([expect.objectContaining({ id: incidentId, step: 'restart-resource' })]);
      expect(current.recentEvents.filter((event) => events.some((published) => published.id === event.id))[0]?.type).toBe('recovery.started');

      await registry.publish(createDomainEvent('incident.resolved', { subject: resourceSubject('db', 'mysqld'), data: { incidentId, outcome: 'recovered' }, correlationId: incidentId }));
      await waitFor(async () => ((await status()).openIncidents.length === 0 ? true : undefined), { what: 'the incident to close' });
    });

    it('gives a redelivered event no second effect and never lets an older event win', async () => {
      const correlationId = randomUUID();
      const newer = createDomainEvent('assembly.unresponsive', { subject: assemblySubject('web'), data: { silentForMs: 3200, missed: 3 }, correlationId });
      const older = createDomainEvent('assembly.running', { subject: assemblySubject('web'), data: { instanceId: 'i-web-1', addresses: [] }, correlationId, occurredAt: new Date(Date.now() - 60_000) });
      const before = (await status()).recentEvents.length;
      await registry.publish(newer);
      await registry.publish(newer);
      await registry.publish(older);
      await waitFor(async () => ((await status()).recentEvents.length >= before + 2 ? true : undefined), { what: 'both events projected' });
      const handled = await registry.service.kernel.database.db.selectFrom('inbox').select('event_id').where('event_id', 'in', [newer.id, older.id]).execute();
      expect(handled).toHaveLength(2);
      const current = await status();
      expect(current.recentEvents.filter((event) => event.id === newer.id)).toHaveLength(1);
      expect(current.assemblies.find((assembly) => assembly.name === 'web')?.observed).toBe('unresponsive');
    });

    it('ignores events about deployables it does not know', async () => {
      const stranger = createDomainEvent('assembly.running', {
        subject: { deployableId: randomUUID(), deployable: 'stranger', assemblyId: randomUUID(), assembly: 'x' },
        data: { instanceId: 'i-1', addresses: [] },
        correlationId: randomUUID(),
      });
      await registry.publish(stranger);
      await waitFor(async () => {
        const row = await registry.service.kernel.database.db.selectFrom('inbox').select('event_id').where('event_id', '=', stranger.id).executeTakeFirst();
        return row;
      });
      const rows = await registry.service.kernel.database.db.selectFrom('recent_events').select('event_id').where('event_id', '=', stranger.id).execute();
      expect(rows).toEqual([]);
    });
  });

  describe('durability', () => {
    it('keeps everything across a restart', async () => {
      const before = await (await registry.request('GET', '/v1/deployables/wordpress')).json();
      await registry.restart();
      const after = await (await registry.request('GET', '/v1/deployables/wordpress')).json();
      expect(after).toEqual(before);
      expect((await registry.request('GET', '/v1/clouds/sim-openstack')).status).toBe(200);
    });

    it('publishes after a restart, exactly once, an event committed by a process that died before publishing', async () => {
      await registry.restart({ relayOutbox: false });
      const response = await registry.request('PUT', '/v1/deployables/orphan', { body: wordpressManifest({ name: 'orphan' }) });
      expect(response.status).toBe(201);
      const pending = await registry.service.kernel.database.db.selectFrom('outbox').select(['id', 'type']).where('published_at', 'is', null).execute();
      expect(pending.map((row) => row.type)).toContain('deployable.applied');
      expect(registry.events.some(ofType('deployable.applied', 'orphan'))).toBe(false);

      await registry.restart();
      await registry.eventMatching(ofType('deployable.applied', 'orphan'), 'the stranded event');
      // a later event proves the relay has moved past it: anything duplicated would have arrived by now
      await registry.request('PUT', '/v1/deployables/after-orphan', { body: wordpressManifest({ name: 'after-orphan' }) });
      await registry.eventMatching(ofType('deployable.applied', 'after-orphan'), 'the next event');
      expect(registry.events.filter(ofType('deployable.applied', 'orphan'))).toHaveLength(1);
    });
  });
});
