/**
 * Subscriptions as the API sees them: webhooks (URL vetted against the network policy, a
 * `whsec_…` secret shown only when created or rotated, rotation with an overlap during which both
 * secrets sign) and email (recipients, digest window), each with event-type and deployable filters
 * and storm control.
 */
import { randomUUID } from 'node:crypto';
import { formatDuration } from '@defib/contracts';
import { AppError, decodePageCursor, encodePageCursor, type SecretBox } from '@defib/platform';
import type { Kysely } from 'kysely';
import { vetWebhookTarget, type HostResolver, type NetworkPolicy } from './network-policy.ts';
import { subscriptionRepository } from './subscription.repository.ts';
import type { RateLimit } from './storm-control.ts';
import type { NotifierTables, StoredRateLimit, SubscriptionKind, SubscriptionRow, SubscriptionUpdate } from './tables.ts';
import { generateWebhookSecret } from './webhook-signature.ts';

/** Storm control as the API shows it. */
export interface RateLimitView {
  burst: number;
  perMinute: number;
  groupWindow: string;
}

/** A subscription as the API shows it; never its secret. */
export interface SubscriptionView {
  id: string;
  kind: SubscriptionKind;
  name: string | null;
  url?: string;
  hook?: boolean;
  recipients?: string[];
  digestWindow?: string;
  eventTypes: string[];
  deployables: string[];
  ownerEmail: string | null;
  /** The storm control in force; null when off. */
  rateLimit: RateLimitView | null;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: string | null;
  /** While a rotated-out secret still signs: until when. */
  previousSecretExpiresAt?: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What creating a subscription takes (validated by the route's schema). */
export type SubscriptionInput =
  | (CommonInput & { kind: 'webhook'; url: string; hook: boolean })
  | (CommonInput & { kind: 'email'; recipients: string[]; digestWindowMs: number });

interface CommonInput {
  name?: string | undefined;
  eventTypes: string[];
  deployables: string[];
  ownerEmail?: string | null | undefined;
  enabled: boolean;
  /** Absent: the service default; null: off. */
  rateLimit?: RateLimit | null | undefined;
}

/** A partial change; fields of the other kind are refused. */
export interface SubscriptionPatch {
  name?: string | null | undefined;
  url?: string | undefined;
  hook?: boolean | undefined;
  recipients?: string[] | undefined;
  digestWindowMs?: number | undefined;
  eventTypes?: string[] | undefined;
  deployables?: string[] | undefined;
  ownerEmail?: string | null | undefined;
  enabled?: boolean | undefined;
  rateLimit?: RateLimit | null | undefined;
}

export interface SubscriptionListQuery {
  kind?: SubscriptionKind | undefined;
  enabled?: boolean | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface SubscriptionCatalogue {
  create(input: SubscriptionInput): Promise<{ subscription: SubscriptionView; secret: string | undefined }>;
  get(id: string): Promise<SubscriptionView>;
  list(query: SubscriptionListQuery): Promise<{ items: SubscriptionView[]; nextCursor: string | null }>;
  update(id: string, patch: SubscriptionPatch): Promise<SubscriptionView>;
  remove(id: string): Promise<void>;
  /** A new secret; the old one keeps signing for `overlapMs`. */
  rotateSecret(id: string, overlapMs: number | undefined): Promise<{ secret: string; previousSecretExpiresAt: string | null }>;
}

/** Where the sealed secret is bound: a ciphertext moved to another row does not open. */
export function secretBinding(subscriptionId: string, which: 'current' | 'previous'): string {
  return `subscription:${subscriptionId}:${which}`;
}

/** The secrets that sign a request now: the current one, and the previous one within its overlap. */
export function signingSecrets(row: SubscriptionRow, box: SecretBox, now: Date): string[] {
  if (row.sealed_secret === null) return [];
  const secrets = [box.open(row.sealed_secret, secretBinding(row.id, 'current'))];
  if (row.sealed_previous_secret !== null && row.previous_secret_expires_at !== null && row.previous_secret_expires_at > now) {
    secrets.push(box.open(row.sealed_previous_secret, secretBinding(row.id, 'previous')));
  }
  return secrets;
}

/** The storm control a subscription is under: its own, the default, or none. */
export function effectiveRateLimit(row: SubscriptionRow, fallback: RateLimit): RateLimit | null {
  if (!row.storm_control) return null;
  return row.rate_limit ?? fallback;
}

function toStoredRateLimit(limit: RateLimit): string {
  const stored: StoredRateLimit = { burst: limit.burst, perMinute: limit.perMinute, groupWindowMs: limit.groupWindowMs };
  return JSON.stringify(stored);
}

function rateLimitChanges(limit: RateLimit | null | undefined): Pick<SubscriptionUpdate, 'rate_limit' | 'storm_control'> {
  if (limit === undefined) return {};
  if (limit === null) return { storm_control: false, rate_limit: null };
  return { storm_control: true, rate_limit: toStoredRateLimit(limit) };
}

export function toSubscriptionView(row: SubscriptionRow, defaultRateLimit: RateLimit, now: Date): SubscriptionView {
  const limit = effectiveRateLimit(row, defaultRateLimit);
  const common = {
    id: row.id,
    kind: row.kind,
    name: row.name,
    eventTypes: row.event_types,
    deployables: row.deployables,
    ownerEmail: row.owner_email,
    rateLimit: limit === null ? null : { burst: limit.burst, perMinute: limit.perMinute, groupWindow: formatDuration(limit.groupWindowMs) },
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    disabledAt: row.disabled_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
  if (row.kind === 'webhook') {
    const overlapping = row.previous_secret_expires_at !== null && row.previous_secret_expires_at > now;
    return { ...common, url: row.url ?? '', hook: row.hook, previousSecretExpiresAt: overlapping ? (row.previous_secret_expires_at?.toISOString() ?? null) : null };
  }
  return { ...common, recipients: row.recipients, digestWindow: formatDuration(row.digest_window_ms) };
}


export interface SubscriptionCatalogueDependencies {
  db: Kysely<NotifierTables>;
  secrets: SecretBox;
  policy: NetworkPolicy;
  resolve: HostResolver;
  defaultRateLimit: RateLimit;
  defaultOverlapMs: number;
  /** Whether an SMTP server is configured; email subscriptions are refused without one. */
  emailEnabled: boolean;
  clock: () => Date;
  /** New work may be due (a subscription was enabled again). */
  onChange?: () => void;
}

export function createSubscriptionCatalogue(deps: SubscriptionCatalogueDependencies): SubscriptionCatalogue {
  const { db, secrets } = deps;
  const view = (row: SubscriptionRow) => toSubscriptionView(row, deps.defaultRateLimit, deps.clock());

  const vetUrl = async (url: string): Promise<void> => {
    const verdict = await vetWebhookTarget(new URL(url), deps.policy, deps.resolve);
    if (!verdict.allowed) throw AppError.validation([{ path: 'url', message: `is refused: ${verdict.reason}` }]);
  };

  const mustExist = async (id: string): Promise<SubscriptionRow> => {
    const row = await subscriptionRepository.find(db, id);
    if (row === undefined) throw AppError.notFound('subscription', id);
    return row;
  };

  return {
    async create(input) {
      if (input.kind === 'webhook') await vetUrl(input.url);
      else if (!deps.emailEnabled) {
        throw AppError.validation([{ path: 'kind', message: 'email delivery is not configured on this notifier (set NOTIFIER_SMTP_URL)' }]);
      }
      const id = randomUUID();
      const secret = input.kind === 'webhook' ? generateWebhookSecret() : undefined;
      const row = await subscriptionRepository.insert(db, {
        id,
        kind: input.kind,
        name: input.name ?? null,
        url: input.kind === 'webhook' ? input.url : null,
        hook: input.kind === 'webhook' ? input.hook : false,
        event_types: input.eventTypes,
        deployables: input.deployables,
        recipients: input.kind === 'email' ? input.recipients : [],
        digest_window_ms: input.kind === 'email' ? input.digestWindowMs : 0,
        owner_email: input.ownerEmail ?? null,
        sealed_secret: secret === undefined ? null : secrets.seal(secret, secretBinding(id, 'current')),
        sealed_previous_secret: null,
        previous_secret_expires_at: null,
        enabled: input.enabled,
        disabled_reason: input.enabled ? null : 'disabled when created',
        disabled_at: input.enabled ? null : deps.clock(),
        ...rateLimitChanges(input.rateLimit),
      });
      return { subscription: view(row), secret };
    },

    async get(id) {
      return view(await mustExist(id));
    },

    async list(query) {
      const rows = await subscriptionRepository.list(db, {
        kind: query.kind,
        enabled: query.enabled,
        after: query.cursor === undefined ? undefined : decodePageCursor(query.cursor),
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return { items: page.map(view), nextCursor: rows.length > query.limit && last !== undefined ? encodePageCursor({ at: last.created_at, id: last.id }) : null };
    },

    async update(id, patch) {
      const existing = await mustExist(id);
      const wrongKind: { path: string; message: string }[] = [];
      const webhookOnly = ['url', 'hook'] as const;
      const emailOnly = ['recipients', 'digestWindowMs'] as const;
      for (const field of existing.kind === 'webhook' ? emailOnly : webhookOnly) {
        if (patch[field] !== undefined) {
          wrongKind.push({ path: field === 'digestWindowMs' ? 'digestWindow' : field, message: `does not apply to ${existing.kind} subscriptions` });
        }
      }
      if (wrongKind.length > 0) throw AppError.validation(wrongKind);
      if (patch.url !== undefined) await vetUrl(patch.url);
      const changes: SubscriptionUpdate = {
        ...(patch.name === undefined ? {} : { name: patch.name }),
        ...(patch.url === undefined ? {} : { url: patch.url, consecutive_failures: 0, failing_since: null }),
        ...(patch.hook === undefined ? {} : { hook: patch.hook }),
        ...(patch.recipients === undefined ? {} : { recipients: patch.recipients }),
        ...(patch.digestWindowMs === undefined ? {} : { digest_window_ms: patch.digestWindowMs }),
        ...(patch.eventTypes === undefined ? {} : { event_types: patch.eventTypes }),
        ...(patch.deployables === undefined ? {} : { deployables: patch.deployables }),
        ...(patch.ownerEmail === undefined ? {} : { owner_email: patch.ownerEmail }),
        ...rateLimitChanges(patch.rateLimit),
      };
      const row = await db.transaction().execute(async (trx) => {
        if (patch.enabled === false && existing.enabled) await subscriptionRepository.disable(trx, id, 'disabled by a user');
        if (patch.enabled === true) {
          Object.assign(changes, { enabled: true, disabled_reason: null, disabled_at: null, consecutive_failures: 0, failing_since: null });
        }
        const updated = await subscriptionRepository.update(trx, id, changes);
        if (updated === undefined) throw AppError.notFound('subscription', id);
        return updated;
      });
      if (patch.enabled === true) deps.onChange?.();
      return view(row);
    },

    async remove(id) {
      if (!(await subscriptionRepository.remove(db, id))) throw AppError.notFound('subscription', id);
    },

    async rotateSecret(id, overlapMs) {
      const overlap = overlapMs ?? deps.defaultOverlapMs;
      return db.transaction().execute(async (trx) => {
        const row = await subscriptionRepository.findForUpdate(trx, id);
        if (row === undefined) throw AppError.notFound('subscription', id);
        if (row.kind !== 'webhook' || row.sealed_secret === null) throw AppError.conflict('only webhook subscriptions have a secret');
        const current = secrets.open(row.sealed_secret, secretBinding(id, 'current'));
        const secret = generateWebhookSecret();
        const expiresAt = overlap > 0 ? new Date(deps.clock().getTime() + overlap) : null;
        await subscriptionRepository.update(trx, id, {
          sealed_secret: secrets.seal(secret, secretBinding(id, 'current')),
          sealed_previous_secret: expiresAt === null ? null : secrets.seal(current, secretBinding(id, 'previous')),
          previous_secret_expires_at: expiresAt,
        });
        return { secret, previousSecretExpiresAt: expiresAt?.toISOString() ?? null };
      });
    },
  };
}
