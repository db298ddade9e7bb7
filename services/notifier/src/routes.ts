/** The notifier's HTTP API under /v1: subscriptions, the delivery log and replay, the event log. */
import { isEventType, makeDurationSchema, nameSchema } from '@defib/contracts';
import { defineRoute, pageQueryFields, timestampParameter as timestamp, type Route } from '@defib/platform';
import { z } from 'zod';
import type { DeliveryLog } from './deliveries.ts';
import type { EventLog } from './event-log.ts';
import type { RateLimit } from './storm-control.ts';
import { eventTypePatternProblem } from './subscription-matching.ts';
import type { SubscriptionCatalogue, SubscriptionInput, SubscriptionPatch } from './subscriptions.ts';

const HOUR_MS = 3_600_000;
const idParams = z.strictObject({ id: z.uuid({ message: 'must be a UUID' }) });

const nameField = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

const eventTypesField = z
  .array(z.string().max(100, 'must be at most 100 characters'))
  .min(1, 'must name at least one event type (or *)')
  .max(100, 'must name at most 100 event types')
  .superRefine((patterns, ctx) => {
    patterns.forEach((pattern, index) => {
      const problem = eventTypePatternProblem(pattern);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [index], message: problem });
    });
  });

const deployablesField = z.array(nameSchema).max(100, 'must name at most 100 deployables');

const emailField = z.email({ message: 'must be an email address such as ops@example.com' }).max(254, 'must be at most 254 characters');

const webhookUrlField = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .superRefine((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute http:// or https:// URL' });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must use http or https' });
    else if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', message: 'must not carry credentials; the request is signed instead' });
    else if (url.hash !== '') ctx.addIssue({ code: 'custom', message: 'must not have a #fragment' });
    else if (url.hostname === '') ctx.addIssue({ code: 'custom', message: 'must name a host' });
  });

const rateLimitField = z
  .strictObject({
    burst: z.int().min(1).max(100_000),
    perMinute: z.int().min(1).max(1_000_000),
    groupWindow: makeDurationSchema().refine((ms) => ms <= HOUR_MS, 'must be at most 1h'),
  })
  .transform((limit): RateLimit => ({ burst: limit.burst, perMinute: limit.perMinute, groupWindowMs: limit.groupWindow }));

const digestWindowField = makeDurationSchema({ allowZero: true }).refine((ms) => ms <= 24 * HOUR_MS, 'must be at most 24h');
const overlapField = makeDurationSchema({ allowZero: true }).refine((ms) => ms <= 30 * 24 * HOUR_MS, 'must be at most 30d');

const common = {
  name: nameField.optional(),
  eventTypes: eventTypesField.default(['*']),
  deployables: deployablesField.default([]),
  ownerEmail: emailField.nullable().optional(),
  enabled: z.boolean().default(true),
  /** Omit for the service default; null turns storm control off. */
  rateLimit: rateLimitField.nullable().optional(),
};

const createBody = z
  .discriminatedUnion(
    'kind',
    [
      z.strictObject({ kind: z.literal('webhook'), url: webhookUrlField, hook: z.boolean().default(false), ...common }),
      z.strictObject({ kind: z.literal('email'), recipients: z.array(emailField).min(1, 'must name at least one recipient').max(50, 'must name at most 50 recipients'), digestWindow: digestWindowField.default(60_000), ...common }),
    ],
    { error: 'must be "webhook" or "email"' },
  )
  .transform((body): SubscriptionInput => {
    if (body.kind === 'webhook') return body;
    const { digestWindow, ...rest } = body;
    return { ...rest, digestWindowMs: digestWindow };
  });

const patchBody = z
  .strictObject({
    name: nameField.nullable().optional(),
    url: webhookUrlField.optional(),
    hook: z.boolean().optional(),
    recipients: z.array(emailField).min(1, 'must name at least one recipient').max(50).optional(),
    digestWindow: digestWindowField.optional(),
    eventTypes: eventTypesField.optional(),
    deployables: deployablesField.optional(),
    ownerEmail: emailField.nullable().optional(),
    enabled: z.boolean().optional(),
    rateLimit: rateLimitField.nullable().optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), { message: 'must change at least one field' })
  .transform((body): SubscriptionPatch => {
    const { digestWindow, ...rest } = body;
    return { ...rest, digestWindowMs: digestWindow };
  });

const rotateBody = z.strictObject({ /** How long the old secret keeps signing; the configured default when absent. */ overlap: overlapField.optional() }).optional();

const rateLimitSchema = z.object({ burst: z.int(), perMinute: z.int(), groupWindow: z.string() }).nullable();
const subscriptionSchema = z.object({
  id: z.uuid(),
  kind: z.enum(['webhook', 'email']),
  name: z.string().nullable(),
  url: z.string().optional(),
  hook: z.boolean().optional(),
  recipients: z.array(z.string()).optional(),
  digestWindow: z.string().optional(),
  eventTypes: z.array(z.string()),
  deployables: z.array(z.string()),
  ownerEmail: z.string().nullable(),
  rateLimit: rateLimitSchema,
  enabled: z.boolean(),
  disabledReason: z.string().nullable(),
  disabledAt: z.string().nullable(),
  previousSecretExpiresAt: z.string().nullable().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const createdSchema = subscriptionSchema.extend({ secret: z.string().optional().describe('The webhook signing secret (whsec_…); shown only in this response.') });

const attemptSchema = z.object({ number: z.int(), startedAt: z.string(), latencyMs: z.number(), statusCode: z.int().nullable(), outcome: z.enum(['delivered', 'retry', 'failed']), error: z.string().nullable() });
const deliverySchema = z.object({
  id: z.uuid().describe('Also the webhook-id of every attempt'),
  subscriptionId: z.uuid(),
  channel: z.enum(['webhook', 'email']),
  recipient: z.string().optional(),
  mode: z.enum(['single', 'group', 'notice']),
  status: z.enum(['pending', 'delivered', 'failed']),
  events: z.array(z.object({ id: z.uuid(), type: z.string(), occurredAt: z.string() })),
  nextAttemptAt: z.string().nullable(),
  lastError: z.string().nullable(),
  lastStatusCode: z.int().nullable(),
  failureReason: z.enum(['exhausted', 'permanent', 'gone', 'disabled']).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  deliveredAt: z.string().nullable(),
  failedAt: z.string().nullable(),
  attempts: z.array(attemptSchema),
});

const eventSchema = z.object({
  id: z.uuid(),
  type: z.string(),
  version: z.int(),
  occurredAt: z.string(),
  correlationId: z.string(),
  reason: z.string().optional(),
  subject: z.record(z.string(), z.string()).describe('deployable/assembly/resource names and ids, or the cloud or monitor'),
  data: z.record(z.string(), z.unknown()),
});

/** `type=assembly.*,recovery.gave-up`: catalogue types and patterns, each checked like a subscription's. */
const eventTypeListParameter = z
  .string()
  .max(2000)
  .transform((text) => text.split(',').map((part) => part.trim()).filter((part) => part !== ''))
  .superRefine((patterns, ctx) => {
    for (const pattern of patterns) {
      const problem = eventTypePatternProblem(pattern);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${pattern}: ${problem}` });
    }
  });

const problem = (description: string) => ({ description });

export interface NotifierRouteDependencies {
  subscriptions: SubscriptionCatalogue;
  deliveries: DeliveryLog;
  events: EventLog;
}

export function notifierRoutes({ subscriptions, deliveries, events }: NotifierRouteDependencies): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/subscriptions',
      operationId: 'createSubscription',
      summary: 'Subscribe a webhook or email recipients to events',
      description:
        'Webhooks are signed (Standard Webhooks); the secret is in this response only. The URL must not resolve to link-local addresses, nor to private or loopback ones unless NOTIFIER_ALLOWED_NETWORKS allows them.',
      tags: ['subscriptions'],
      scope: 'write',
      body: createBody,
      responses: { 201: { description: 'Created; a webhook comes with its secret', schema: createdSchema }, 400: problem('Invalid subscription; every issue is named') },
      async handler({ body }) {
        const { subscription, secret } = await subscriptions.create(body);
        return { status: 201, body: secret === undefined ? subscription : { ...subscription, secret }, headers: { Location: `/v1/subscriptions/${subscription.id}` } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/subscriptions',
      operationId: 'listSubscriptions',
      summary: 'List subscriptions, oldest first, a page at a time (never their secrets)',
      tags: ['subscriptions'],
      scope: 'read',
      query: z.strictObject({
        kind: z.enum(['webhook', 'email']).optional(),
        enabled: z.enum(['true', 'false']).transform((value) => value === 'true').optional(),
        ...pageQueryFields,
      }),
      responses: { 200: { description: 'A page', schema: z.object({ items: z.array(subscriptionSchema), nextCursor: z.string().nullable() }) } },
      async handler({ query }) {
        return { status: 200, body: await subscriptions.list(query) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/subscriptions/:id',
      operationId: 'getSubscription',
      summary: 'Show one subscription (never its secret)',
      tags: ['subscriptions'],
      scope: 'read',
      params: idParams,
      responses: { 200: { description: 'The subscription', schema: subscriptionSchema }, 404: problem('No such subscription') },
      async handler({ params }) {
        return { status: 200, body: await subscriptions.get(params.id) };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/subscriptions/:id',
      operationId: 'updateSubscription',
      summary: 'Change a subscription; enable or disable it',
      description: 'Disabling gives up its pending deliveries; enabling clears an automatic disable. Replay what was missed with redeliver-failed.',
      tags: ['subscriptions'],
      scope: 'write',
      params: idParams,
      body: patchBody,
      responses: { 200: { description: 'Updated', schema: subscriptionSchema }, 400: problem('Invalid change'), 404: problem('No such subscription') },
      async handler({ params, body }) {
        return { status: 200, body: await subscriptions.update(params.id, body) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/subscriptions/:id',
      operationId: 'deleteSubscription',
      summary: 'Delete a subscription with its deliveries',
      tags: ['subscriptions'],
      scope: 'write',
      params: idParams,
      responses: { 204: { description: 'Deleted' }, 404: problem('No such subscription') },
      async handler({ params }) {
        await subscriptions.remove(params.id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/subscriptions/:id/rotate-secret',
      operationId: 'rotateSubscriptionSecret',
      summary: "Replace a webhook's secret; the old one keeps signing during the overlap",
      tags: ['subscriptions'],
      scope: 'write',
      params: idParams,
      body: rotateBody,
      responses: {
        200: { description: 'The new secret, shown only here', schema: z.object({ secret: z.string(), previousSecretExpiresAt: z.string().nullable() }) },
        404: problem('No such subscription'),
        409: problem('Not a webhook subscription'),
      },
      async handler({ params, body }) {
        return { status: 200, body: await subscriptions.rotateSecret(params.id, body?.overlap) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/subscriptions/:id/redeliver-failed',
      operationId: 'redeliverFailed',
      summary: 'Deliver again everything this subscription failed to deliver since a time',
      tags: ['subscriptions', 'deliveries'],
      scope: 'write',
      params: idParams,
      query: z.strictObject({ since: timestamp }),
      responses: {
        202: { description: 'Requeued', schema: z.object({ requeued: z.int() }) },
        404: problem('No such subscription'),
        409: problem('The subscription is disabled'),
      },
      async handler({ params, query }) {
        return { status: 202, body: { requeued: await deliveries.redeliverFailed(params.id, query.since) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/deliveries',
      operationId: 'listDeliveries',
      summary: 'The delivery log, newest first, with every attempt',
      tags: ['deliveries'],
      scope: 'read',
      query: z
        .strictObject({
          subscription: z.uuid({ message: 'must be a UUID' }).optional(),
          status: z.enum(['pending', 'delivered', 'failed']).optional(),
          eventType: z.string().refine(isEventType, 'is not a catalogued event type').optional(),
          since: timestamp.optional(),
          until: timestamp.optional(),
          ...pageQueryFields,
        })
        .refine((query) => query.since === undefined || query.until === undefined || query.since < query.until, { path: ['until'], message: 'must be after since' }),
      responses: { 200: { description: 'A page', schema: z.object({ items: z.array(deliverySchema), nextCursor: z.string().nullable() }) } },
      async handler({ query }) {
        return { status: 200, body: await deliveries.list(query) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/deliveries/:id',
      operationId: 'getDelivery',
      summary: 'One delivery with its events and every attempt',
      tags: ['deliveries'],
      scope: 'read',
      params: idParams,
      responses: { 200: { description: 'The delivery', schema: deliverySchema }, 404: problem('No such delivery') },
      async handler({ params }) {
        return { status: 200, body: await deliveries.get(params.id) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/deliveries/:id/redeliver',
      operationId: 'redeliverDelivery',
      summary: 'Deliver again now, with the same webhook-id and a fresh retry schedule',
      tags: ['deliveries'],
      scope: 'write',
      params: idParams,
      responses: {
        202: { description: 'Requeued', schema: deliverySchema },
        404: problem('No such delivery'),
        409: problem('Being attempted right now, or the subscription is disabled'),
      },
      async handler({ params }) {
        return { status: 202, body: await deliveries.redeliver(params.id) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/events',
      operationId: 'listEvents',
      summary: 'The event log: every event the notifier consumed, oldest first by arrival, as published',
      description:
        'Kept for NOTIFIER_RETENTION whether or not a subscription matched. To follow the log, ask again later with resumeCursor (null: with the same cursor as before); ' +
        'events received in the last few seconds may then be listed twice — de-duplicate by id — so that one committed late is never skipped.',
      tags: ['events'],
      scope: 'read',
      query: z.strictObject({
        type: eventTypeListParameter.optional(),
        deployable: z.uuid({ message: 'must be a deployable id (a UUID)' }).optional(),
        since: timestamp.optional().describe('Received at or after this time'),
        ...pageQueryFields,
      }),
      responses: {
        200: {
          description: 'A page',
          schema: z.object({ items: z.array(eventSchema), nextCursor: z.string().nullable(), resumeCursor: z.string().nullable() }),
        },
        400: problem('A bad filter or cursor; every issue is named'),
      },
      async handler({ query }) {
        return { status: 200, body: await events.list({ types: query.type ?? [], deployable: query.deployable, since: query.since, cursor: query.cursor, limit: query.limit }) };
      },
    }),
  ];
}
