/**
 * The incidents API on a real PostgreSQL and a real HTTP server: filters, keyset pages that stay
 * stable while incidents keep opening, problem+json for bad input, and an incident's step timeline.
 */
import { randomUUID } from 'node:crypto';
import { createHttpApp, createLogger, startHttpServer, type RunningHttpServer } from '@defib/platform';
import { incidentRoutes, type NewStep } from '@defib/recovery';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainEvent, intake, migratedRecoveryDatabase, startRequested, resourceSubject, testDeployable, type RecoveryDatabase, type TestDeployable } from './recovery-fixtures.ts';

const READER = 'reader-token-0123456789abcdef';
const asReader = { authorization: `Bearer ${READER}` };
const logger = createLogger({ service: 'recovery-api-test', level: 'silent' });

interface IncidentBody {
  id: string;
  deployableId: string;
  deployable: string | null;
  assembly: string | null;
  resource: string | null;
  level: string;
  status: string;
  openedAt: string;
  observations: number;
  steps?: { kind: string; attempt: number; action: string; state: string; reason: string | null; intendedAt: string; finishedAt: string | null; detail: unknown }[];
}
interface Page {
  items: IncidentBody[];
  nextCursor?: string;
}
interface ProblemBody {
  status: number;
  issues?: { path: string; message: string }[];
}

describe('incidents API', () => {
  let recovery: RecoveryDatabase;
  let server: RunningHttpServer;
  let wordpress: TestDeployable;
  let shop: TestDeployable;
  /** The assembly incident opened through the intake. */
  let webIncident: string;

  const db = () => recovery.database.db;
  const get = (path: string, headers: Record<string, string> = asReader) => fetch(`${server.url}${path}`, { headers });
  const getJson = async <T>(path: string): Promise<T> => {
    const response = await get(path);
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  };

  /** An incident recorded as the runner would leave it, opened at `openedAt`. */
  const insertIncident = async (deployable: TestDeployable, openedAt: Date, status: 'open' | 'closed' = 'closed', id = randomUUID()) => {
    await db()
      .insertInto('incidents')
      .values({
        id,
        deployable_id: deployable.deployableId,
        assembly_id: status === 'open' ? deployable.assemblyIds.cache : null,
        level: status === 'open' ? 'assembly' : 'deployable',
        status,
        outcome: status === 'closed' ? 'recovered' : null,
        trigger: 'assembly.failed',
        failure: JSON.stringify({ type: 'assembly.failed', at: openedAt.toISOString() }),
        opened_at: openedAt,
        closed_at: status === 'closed' ? new Date(openedAt.getTime() + 1_000) : null,
      })
      .execute();
    return id;
  };

  beforeAll(async () => {
    recovery = await migratedRecoveryDatabase();
    wordpress = testDeployable();
    shop = testDeployable();
    const { handle } = intake(recovery.database);
    await handle(
      startRequested(wordpress),
      startRequested(shop),
      domainEvent('resource.failed', { subject: resourceSubject(wordpress, 'web/httpd'), data: { state: 'failed' } }),
    );
    const opened = await db().selectFrom('incidents').select('id').where('deployable_id', '=', wordpress.deployableId).executeTakeFirstOrThrow();
    webIncident = opened.id;
    await insertIncident(wordpress, new Date('2026-01-01T10:00:00Z'));
    await insertIncident(shop, new Date('2026-01-02T10:00:00Z'));
    await insertIncident(shop, new Date('2026-01-03T10:00:00Z'));
    const app = createHttpApp({
      service: 'recovery',
      version: 'test',
      logger,
      auth: { readTokens: [READER], openReads: false },
      bodyLimitBytes: 64 * 1024,
      routes: incidentRoutes(db()),
      metrics: new Registry(),
      openapi: { title: 'recovery' },
    });
    server = await startHttpServer(app, { port: 0, logger, shutdownGraceMs: 1_000 });
  });

  afterAll(async () => {
    await server?.close();
    await recovery?.close();
  });

  it('asks for a token to read', async () => {
    expect((await get('/v1/incidents', {})).status).toBe(401);
  });

  describe('listing', () => {
    it('lists incidents newest first, naming the deployable, assembly and resource', async () => {
      const page = await getJson<Page>('/v1/incidents');
      const openedAt = page.items.map((item) => item.openedAt);
      expect(openedAt).toEqual([...openedAt].sort().reverse());
      expect(page.items[0]).toMatchObject({ id: webIncident, deployable: wordpress.name, assembly: 'web', resource: 'httpd', level: 'resource', status: 'open', observations: 1 });
      expect(page.nextCursor).toBeUndefined();
    });

    it("filters by the deployable's name or id, by state and by when they opened", async () => {
      const ids = async (query: string) => (await getJson<Page>(`/v1/incidents?${query}`)).items.map((item) => item.openedAt);
      expect(await ids(`deployable=${shop.name}`)).toEqual(['2026-01-03T10:00:00.000Z', '2026-01-02T10:00:00.000Z']);
      expect(await ids(`deployable=${shop.deployableId}`)).toEqual(['2026-01-03T10:00:00.000Z', '2026-01-02T10:00:00.000Z']);
      expect(await ids(`deployable=${wordpress.name}&state=closed`)).toEqual(['2026-01-01T10:00:00.000Z']);
      expect((await getJson<Page>(`/v1/incidents?deployable=${wordpress.name}&state=open`)).items.map((item) => item.id)).toEqual([webIncident]);
      expect(await ids('since=2026-01-02T00:00:00Z&until=2026-01-03T10:00:00Z')).toEqual(['2026-01-02T10:00:00.000Z']);
      expect(await ids('deployable=nobody-here')).toEqual([]);
    });

    it('pages with a cursor that stays put while newer incidents open', async () => {
      const paged = testDeployable();
      await intake(recovery.database).handle(startRequested(paged));
      const base = Date.parse('2025-06-01T00:00:00Z');
      // Two share each millisecond: the id breaks the tie.
      for (let index = 0; index < 10; index += 1) await insertIncident(paged, new Date(base + Math.floor(index / 2)));
      const seen: string[] = [];
      let page = await getJson<Page>(`/v1/incidents?deployable=${paged.name}&limit=3`);
      seen.push(...page.items.map((item) => item.id));
      await insertIncident(paged, new Date(base + 60_000));
      await insertIncident(paged, new Date(base + 1));
      while (page.nextCursor !== undefined) {
        page = await getJson<Page>(`/v1/incidents?deployable=${paged.name}&limit=3&cursor=${page.nextCursor}`);
        seen.push(...page.items.map((item) => item.id));
      }
      const all = await db().selectFrom('incidents').select('id').where('deployable_id', '=', paged.deployableId).orderBy('opened_at', 'desc').orderBy('id', 'desc').execute();
      const newest = all[0]?.id;
      // Everything but the incident opened after the first page, each once, in order.
      expect(seen).toEqual(all.map((row) => row.id).filter((id) => id !== newest));
    });

    it.each([
      ['state=broken', 'query.state'],
      ['limit=0', 'query.limit'],
      ['limit=many', 'query.limit'],
      ['since=yesterday', 'query.since'],
      ['since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z', 'query.until'],
      ['deployable=Not%20A%20Name', 'query.deployable'],
      ['cursor=not-a-cursor', 'query.cursor'],
      ['colour=red', 'query.colour'],
    ])('answers %s with a 400 problem naming %s', async (query, path) => {
      const response = await get(`/v1/incidents?${query}`);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const body = (await response.json()) as ProblemBody;
      expect(body.issues?.map((issue) => issue.path)).toContain(path);
    });
  });

  describe('one incident', () => {
    it('shows its steps in the order they were intended', async () => {
      const at = (seconds: number) => new Date(Date.parse('2026-02-01T00:00:00Z') + seconds * 1_000);
      const step = (kind: NewStep['kind'], attempt: number, seconds: number, state: NewStep['state']): NewStep => ({
        deployable_id: wordpress.deployableId,
        incident_id: webIncident,
        assembly_id: wordpress.assemblyIds.web,
        kind,
        attempt,
        action: kind === 'restart-resource' ? 'restart' : 'reboot-soft',
        action_id: randomUUID(),
        state,
        reason: `${kind} #${attempt}`,
        detail: JSON.stringify({ attempt }),
        intended_at: at(seconds),
        finished_at: state === 'intended' ? null : at(seconds + 1),
      });
      // Written out of order: the timeline is ordered by intent, not by insertion.
      await db()
        .insertInto('steps')
        .values([step('reboot', 1, 30, 'intended'), step('restart-resource', 1, 0, 'failed'), step('restart-resource', 2, 10, 'failed')])
        .execute();
      const incident = await getJson<IncidentBody>(`/v1/incidents/${webIncident}`);
      expect(incident).toMatchObject({ id: webIncident, deployable: wordpress.name, assembly: 'web', resource: 'httpd' });
      expect(incident.steps?.map((entry) => [entry.kind, entry.attempt, entry.state])).toEqual([
        ['restart-resource', 1, 'failed'],
        ['restart-resource', 2, 'failed'],
        ['reboot', 1, 'intended'],
      ]);
      expect(incident.steps?.[0]).toMatchObject({ action: 'restart', reason: 'restart-resource #1', intendedAt: '2026-02-01T00:00:00.000Z', finishedAt: '2026-02-01T00:00:01.000Z', detail: { attempt: 1 } });
    });

    it('answers an unknown incident with a 404 problem and a malformed id with a 400 naming it', async () => {
      const unknown = await get(`/v1/incidents/${randomUUID()}`);
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const malformed = await get('/v1/incidents/not-an-id');
      expect(malformed.status).toBe(400);
      expect(((await malformed.json()) as ProblemBody).issues?.map((issue) => issue.path)).toEqual(['params.id']);
    });
  });
});
