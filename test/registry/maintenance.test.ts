/**
 * Maintenance through the registry's API: a deployable or one of its assemblies is put in
 * maintenance and taken out again, each change announced once through the outbox with the right
 * subject, shown in the status, ended by itself when its `until` passes, and refused with a
 * problem naming the field when the request is wrong. Real registry, PostgreSQL and RabbitMQ.
 */
import type { DomainEvent } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openstackCloud, READ_TOKEN, startRegistry, wordpressManifest, type RegistryHarness } from '../../services/registry/test/registry-harness.ts';
import { waitFor } from '../support/index.ts';

interface MaintenanceWindow {
  since: string;
  until?: string;
  reason?: string;
}

interface MaintenanceState {
  deployable: string;
  maintenance: MaintenanceWindow | null;
  assemblies: Record<string, MaintenanceWindow>;
}

interface StatusBody {
  deployable: { maintenance: MaintenanceWindow | null };
  assemblies: { name: string; maintenance: MaintenanceWindow | null }[];
  recentEvents: { type: string }[];
}

interface Problem {
  status: number;
  detail: string;
  issues?: { path: string; message: string }[];
}

type Deployable = { id: string; assemblies: { id: string; name: string }[] };

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1_000).toISOString();

describe('maintenance', () => {
  let registry: RegistryHarness;

  /** Applies a two-assembly deployable (db, web) named `name`. */
  async function deployable(name: string): Promise<Deployable> {
    return registry.json<Deployable>('PUT', `/v1/deployables/${name}`, 201, { body: wordpressManifest({ name }) });
  }

  /** The maintenance events about deployable `name`, in arrival order. */
  function maintenanceEvents(name: string): DomainEvent[] {
    return registry.events.filter((event) => event.type.includes('.maintenance-') && (event.subject as { deployable?: string }).deployable === name);
  }

  function announced(name: string, type: DomainEvent['type'], count = 1): Promise<DomainEvent[]> {
    return waitFor(
      () => {
        const seen = maintenanceEvents(name).filter((event) => event.type === type);
        return seen.length >= count ? seen : undefined;
      },
      { what: `${count} ${type} of ${name}`, timeoutMs: 5_000 },
    );
  }

  beforeAll(async () => {
    registry = await startRegistry({ maintenanceExpiryIntervalMs: 100 });
    await registry.json('PUT', '/v1/clouds/sim-openstack', 201, { body: openstackCloud });
  });

  afterAll(async () => {
    await registry?.close();
  });

  describe('of a deployable', () => {
    it('enters with 201, announces it once with the deployable as subject and shows it in the status', async () => {
      const shop = await deployable('shop');
      const until = inSeconds(3_600);
      const state = await registry.json<MaintenanceState>('PUT', '/v1/deployables/shop/maintenance', 201, { body: { until, reason: 'database upgrade' } });
      expect(state).toEqual({ deployable: 'shop', maintenance: { since: expect.any(String) as string, until, reason: 'database upgrade' }, assemblies: {} });

      const [entered] = await announced('shop', 'deployable.maintenance-entered');
      expect(entered).toMatchObject({ subject: { deployableId: shop.id, deployable: 'shop' }, data: { until }, reason: 'database upgrade' });
      expect(entered?.subject).not.toHaveProperty('assemblyId');

      const status = await registry.json<StatusBody>('GET', '/v1/deployables/shop/status', 200, { token: READ_TOKEN });
      expect(status.deployable.maintenance).toEqual(state.maintenance);
      expect(status.assemblies.map((assembly) => assembly.maintenance)).toEqual([null, null]);
      expect(status.recentEvents.map((event) => event.type)).toContain('deployable.maintenance-entered');
    });

    it('changes nothing and announces nothing when asked again with the same until; a new until keeps since and announces again', async () => {
      const before = await registry.json<MaintenanceState>('GET', '/v1/deployables/shop/maintenance', 200, { token: READ_TOKEN });
      const same = await registry.request('PUT', '/v1/deployables/shop/maintenance', { body: { until: before.maintenance?.until, reason: 'database upgrade' } });
      expect(same.status).toBe(200);
      expect(same.headers.get('defib-maintenance-outcome')).toBe('unchanged');

      const later = inSeconds(7_200);
      const extended = await registry.json<MaintenanceState>('PUT', '/v1/deployables/shop/maintenance', 200, { body: { until: later, reason: 'database upgrade' } });
      expect(extended.maintenance).toEqual({ since: before.maintenance?.since, until: later, reason: 'database upgrade' });
      const entered = await announced('shop', 'deployable.maintenance-entered', 2);
      expect(entered.map((event) => (event.data as { until?: string }).until)).toEqual([before.maintenance?.until, later]);
    });

    it('leaves on DELETE, announcing ended: requested once; a second DELETE is a 404 and announces nothing', async () => {
      const state = await registry.json<MaintenanceState>('DELETE', '/v1/deployables/shop/maintenance', 200);
      expect(state).toEqual({ deployable: 'shop', maintenance: null, assemblies: {} });
      const problem = await registry.json<Problem>('DELETE', '/v1/deployables/shop/maintenance', 404);
      expect(problem.detail).toBe('deployable shop is not in maintenance');

      const [left] = await announced('shop', 'deployable.maintenance-left');
      expect(left).toMatchObject({ subject: { deployable: 'shop' }, data: { ended: 'requested' } });
      // The bus is a barrier: an event announced after every one above has arrived too.
      await registry.json('PUT', '/v1/deployables/shop/maintenance', 201);
      await announced('shop', 'deployable.maintenance-entered', 3);
      expect(maintenanceEvents('shop').map((event) => event.type)).toEqual([
        'deployable.maintenance-entered',
        'deployable.maintenance-entered',
        'deployable.maintenance-left',
        'deployable.maintenance-entered',
      ]);
      expect((await registry.json<StatusBody>('GET', '/v1/deployables/shop/status', 200)).deployable.maintenance).toEqual({ since: expect.any(String) as string });
    });
  });

  describe('of an assembly', () => {
    it('enters for a duration, with the assembly as subject, and shows on that assembly alone', async () => {
      const cart = await deployable('cart');
      const db = cart.assemblies.find((assembly) => assembly.name === 'db');
      const state = await registry.json<MaintenanceState>('PUT', '/v1/deployables/cart/assemblies/db/maintenance', 201, { body: { for: '30m' } });
      expect(state.maintenance).toBeNull();
      expect(Object.keys(state.assemblies)).toEqual(['db']);
      const until = Date.parse(state.assemblies.db?.until ?? '');
      expect(until - Date.parse(state.assemblies.db?.since ?? '')).toBe(30 * 60_000);

      const [entered] = await announced('cart', 'assembly.maintenance-entered');
      expect(entered).toMatchObject({ subject: { deployableId: cart.id, deployable: 'cart', assemblyId: db?.id, assembly: 'db' }, data: { until: new Date(until).toISOString() } });

      const status = await registry.json<StatusBody>('GET', '/v1/deployables/cart/status', 200);
      expect(status.deployable.maintenance).toBeNull();
      expect(Object.fromEntries(status.assemblies.map((assembly) => [assembly.name, assembly.maintenance]))).toEqual({ db: state.assemblies.db, web: null });
    });

    it('leaves on DELETE with ended: requested; an assembly not in maintenance is a 404', async () => {
      const state = await registry.json<MaintenanceState>('DELETE', '/v1/deployables/cart/assemblies/db/maintenance', 200);
      expect(state.assemblies).toEqual({});
      const [left] = await announced('cart', 'assembly.maintenance-left');
      expect(left).toMatchObject({ subject: { assembly: 'db' }, data: { ended: 'requested' } });
      const problem = await registry.json<Problem>('DELETE', '/v1/deployables/cart/assemblies/web/maintenance', 404);
      expect(problem.detail).toBe('assembly web of deployable cart is not in maintenance');
    });

    it('is a 404 naming an assembly the deployable does not have', async () => {
      const problem = await registry.json<Problem>('PUT', '/v1/deployables/cart/assemblies/cache/maintenance', 404);
      expect(problem.detail).toBe('deployable cart has no assembly named cache');
      expect((await registry.request('PUT', '/v1/deployables/nowhere/assemblies/db/maintenance')).status).toBe(404);
      expect((await registry.request('PUT', '/v1/deployables/nowhere/maintenance')).status).toBe(404);
    });
  });

  describe('expiry', () => {
    it('ends maintenance whose until passed by itself, announcing ended: expired once for the deployable and the assembly', async () => {
      await deployable('brief');
      const until = inSeconds(0.4);
      await registry.json('PUT', '/v1/deployables/brief/maintenance', 201, { body: { until } });
      await registry.json('PUT', '/v1/deployables/brief/assemblies/web/maintenance', 201, { body: { until } });

      const [deployableLeft] = await announced('brief', 'deployable.maintenance-left');
      const [assemblyLeft] = await announced('brief', 'assembly.maintenance-left');
      expect(deployableLeft).toMatchObject({ subject: { deployable: 'brief' }, data: { ended: 'expired' } });
      expect(assemblyLeft).toMatchObject({ subject: { assembly: 'web' }, data: { ended: 'expired' } });
      expect(await registry.json('GET', '/v1/deployables/brief/maintenance', 200)).toEqual({ deployable: 'brief', maintenance: null, assemblies: {} });

      // Later sweeps find nothing more to end.
      expect(await registry.service.maintenance.expire()).toBe(0);
      await registry.json('PUT', '/v1/deployables/brief/maintenance', 201);
      await announced('brief', 'deployable.maintenance-entered', 2);
      expect(maintenanceEvents('brief').filter((event) => event.type.endsWith('maintenance-left'))).toHaveLength(2);
    });
  });

  it('ends an expired maintenance once when sweeps race, as two replicas’ would', async () => {
    await deployable('raced');
    const until = inSeconds(0.3);
    await registry.json('PUT', '/v1/deployables/raced/assemblies/db/maintenance', 201, { body: { until } });
    await waitFor(() => (Date.now() > Date.parse(until) ? true : undefined), { what: 'the maintenance to pass its until' });
    await Promise.all([registry.service.maintenance.expire(), registry.service.maintenance.expire(), registry.service.maintenance.expire()]);
    await announced('raced', 'assembly.maintenance-left');
    // A later event about the same deployable is the barrier: a duplicate would have arrived before it.
    await registry.json('PUT', '/v1/deployables/raced/maintenance', 201);
    await announced('raced', 'deployable.maintenance-entered');
    expect(maintenanceEvents('raced').map((event) => event.type)).toEqual(['assembly.maintenance-entered', 'assembly.maintenance-left', 'deployable.maintenance-entered']);
  });

  describe('refused requests', () => {
    it('refuses a past, malformed or doubled end with a 400 naming the field', async () => {
      const cases: [unknown, string][] = [
        [{ until: '2020-01-01T00:00:00Z' }, 'until'],
        [{ until: 'tomorrow' }, 'until'],
        [{ for: 'ten minutes' }, 'for'],
        [{ until: inSeconds(60), for: '5m' }, 'for'],
        [{ until: inSeconds(60), owner: 'me' }, 'owner'],
      ];
      for (const [body, field] of cases) {
        const response = await registry.request('PUT', '/v1/deployables/shop/assemblies/db/maintenance', { body });
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
        const problem = (await response.json()) as Problem;
        expect(problem.issues?.map((issue) => issue.path)).toEqual([field]);
      }
      expect(maintenanceEvents('shop').filter((event) => event.type.startsWith('assembly.'))).toEqual([]);
    });

    it('needs a write token to change maintenance', async () => {
      expect((await registry.request('PUT', '/v1/deployables/shop/maintenance', { token: null })).status).toBe(401);
      expect((await registry.request('DELETE', '/v1/deployables/shop/maintenance', { token: READ_TOKEN })).status).toBe(403);
      expect((await registry.request('PUT', '/v1/deployables/shop/assemblies/db/maintenance', { token: READ_TOKEN })).status).toBe(403);
    });
  });

  it('drops the maintenance of a deleted deployable', async () => {
    const gone = await deployable('gone');
    await registry.json('PUT', '/v1/deployables/gone/maintenance', 201);
    await registry.json('PUT', '/v1/deployables/gone/assemblies/db/maintenance', 201);
    expect((await registry.request('DELETE', '/v1/deployables/gone')).status).toBe(204);
    const { db } = registry.service.kernel.database;
    const kept = [...(await db.selectFrom('deployable_maintenance').select('deployable_id').execute()), ...(await db.selectFrom('assembly_maintenance').select('deployable_id').execute())];
    expect(kept.map((row) => row.deployable_id)).not.toContain(gone.id);
  });
});
