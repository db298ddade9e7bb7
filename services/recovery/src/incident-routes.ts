/** Recovery's incidents API under /v1: what failed, what recovery did about it, step by step. */
import { NAME_PATTERN, incidentLevels, incidentOutcomes } from '@defib/contracts';
import { AppError, defineRoute, pageQueryFields, timestampParameter, type Route } from '@defib/platform';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { describedIncident, listIncidents, stepsOf, type DescribedIncident } from './incident.repository.ts';
import { stepKinds, stepStates, type RecoveryTables, type StepRow } from './tables.ts';

const iso = (time: Date | null): string | null => time?.toISOString() ?? null;

/** An incident as the API shows it. */
export function incidentView(row: DescribedIncident) {
  return {
    id: row.id,
    deployableId: row.deployable_id,
    deployable: row.deployable_name,
    assemblyId: row.assembly_id,
    assembly: row.assembly_name,
    resourceId: row.resource_id,
    resource: row.resource_name,
    level: row.level,
    status: row.status,
    outcome: row.outcome,
    trigger: row.trigger,
    triggerEventId: row.trigger_event_id,
    failure: row.failure,
    observations: row.observations,
    lastError: row.last_error,
    openedAt: row.opened_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    closedAt: iso(row.closed_at),
  };
}

/** One step of an incident's timeline as the API shows it. */
export function stepView(row: StepRow) {
  return {
    kind: row.kind,
    attempt: row.attempt,
    action: row.action,
    state: row.state,
    reason: row.reason,
    error: row.error,
    intendedAt: row.intended_at.toISOString(),
    actedAt: iso(row.acted_at),
    finishedAt: iso(row.finished_at),
    detail: row.detail,
  };
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const nullableString = z.string().nullable();
const incidentSchema = z.object({
  id: z.uuid(),
  deployableId: z.uuid(),
  deployable: nullableString,
  assemblyId: z.uuid().nullable(),
  assembly: nullableString,
  resourceId: z.uuid().nullable(),
  resource: nullableString,
  level: z.enum(incidentLevels),
  status: z.enum(['open', 'errored', 'closed']),
  outcome: z.enum(incidentOutcomes).nullable(),
  trigger: z.string(),
  triggerEventId: z.uuid().nullable(),
  failure: z.record(z.string(), z.unknown()).describe('The latest failure folded into it: type, eventId, kind, cloudStatus, instanceId, detail, at'),
  observations: z.int(),
  lastError: nullableString,
  openedAt: z.string(),
  updatedAt: z.string(),
  closedAt: nullableString,
});
const stepSchema = z.object({
  kind: z.enum(stepKinds),
  attempt: z.int(),
  action: z.string(),
  state: z.enum(stepStates),
  reason: nullableString,
  error: nullableString,
  intendedAt: z.string(),
  actedAt: nullableString,
  finishedAt: nullableString,
  detail: z.record(z.string(), z.unknown()),
});

const problem = (description: string) => ({ description });

export function incidentRoutes(db: Kysely<RecoveryTables>): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/incidents',
      operationId: 'listIncidents',
      summary: 'Incidents, newest first, a page at a time',
      description: '`state=open` lists incidents being recovered (errored ones included), `closed` those that ended; `since`/`until` bound when they were opened.',
      tags: ['incidents'],
      scope: 'read',
      query: z
        .strictObject({
          deployable: z
            .string()
            .refine((text) => NAME_PATTERN.test(text) || UUID_PATTERN.test(text), 'must be a deployable name or id')
            .optional(),
          state: z.enum(['open', 'closed'], { error: 'must be open or closed' }).optional(),
          since: timestampParameter.optional(),
          until: timestampParameter.optional(),
          ...pageQueryFields,
        })
        .refine((query) => query.since === undefined || query.until === undefined || query.since < query.until, { path: ['until'], message: 'must be after since' }),
      responses: {
        200: { description: 'A page', schema: z.object({ items: z.array(incidentSchema), nextCursor: z.string().optional() }) },
        400: problem('A filter is invalid; the parameter is named'),
      },
      async handler({ query }) {
        const page = await listIncidents(db, query);
        return { status: 200, body: { items: page.items.map(incidentView), ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/incidents/:id',
      operationId: 'getIncident',
      summary: 'One incident with its full step timeline',
      tags: ['incidents'],
      scope: 'read',
      params: z.strictObject({ id: z.uuid({ message: 'must be a UUID' }) }),
      responses: {
        200: { description: 'The incident and its steps, in the order they were intended', schema: incidentSchema.extend({ steps: z.array(stepSchema) }) },
        400: problem('The id is not a UUID'),
        404: problem('No such incident'),
      },
      async handler({ params }) {
        // Read in one snapshot: a step the runner writes meanwhile must not appear beside the incident as it was before.
        const found = await db
          .transaction()
          .setIsolationLevel('repeatable read')
          .execute(async (trx) => {
            const row = await describedIncident(trx, params.id);
            return row === undefined ? undefined : { row, steps: await stepsOf(trx, row.id) };
          });
        if (found === undefined) throw AppError.notFound('incident', params.id);
        return { status: 200, body: { ...incidentView(found.row), steps: found.steps.map(stepView) } };
      },
    }),
  ];
}
