/**
 * The delivery worker: claims due deliveries (several replicas may run; each delivery is claimed
 * by one of them under a lease), attempts them — a signed webhook POST or an email — and records
 * the outcome under its lease: delivered, retried on the persisted schedule, or given up. Giving
 * up emits `notification.exhausted` (and `hook.failed` for hooks) through the outbox in the same
 * transaction; a webhook that answers 410 or keeps failing is disabled and its owner told.
 */
import { randomUUID } from 'node:crypto';
import { createDomainEvent, webhookBody, type DomainEvent } from '@defib/contracts';
import { isDatabaseUnavailable, jitteredDelay, retryWhileDatabaseUnavailable, type BackgroundWorker, type Logger, type Outbox, type SecretBox } from '@defib/platform';
import type { Kysely, Transaction } from 'kysely';
import { isSustainedFailure, judgeEmailAttempt, judgeWebhookAttempt, nextStep, type AttemptVerdict, type NextStep } from './delivery-outcome.ts';
import { deliveryRepository } from './delivery.repository.ts';
import type { Mailer } from './email-sender.ts';
import type { NotifierMetrics } from './metrics.ts';
import { vetWebhookTarget, type HostResolver, type NetworkPolicy } from './network-policy.ts';
import { renderDisabledNotice, renderEmail, safeEndpoint } from './notification-content.ts';
import type { RandomSource, RetryPolicy } from './retry-schedule.ts';
import { subscriptionRepository } from './subscription.repository.ts';
import { DELIVERY_EVENT_TYPES } from './subscription-matching.ts';
import { signingSecrets } from './subscriptions.ts';
import type { DeliveryRow, NotifierTables, SubscriptionRow } from './tables.ts';
import { webhookHeaders } from './webhook-signature.ts';
import type { WebhookSender } from './webhook-sender.ts';

export interface DeliverySettings {
  retry: RetryPolicy;
  attemptTimeoutMs: number;
  leaseMs: number;
  concurrency: number;
  pollIntervalMs: number;
  autoDisable: { afterMs: number; minFailures: number };
}

export interface DeliveryWorkerOptions {
  db: Kysely<NotifierTables>;
  /** Where given-up and disabled announcements go, in the outcome's transaction. */
  outbox: Outbox<NotifierTables>;
  logger: Logger;
  metrics: NotifierMetrics;
  secrets: SecretBox;
  policy: NetworkPolicy;
  resolve: HostResolver;
  webhooks: WebhookSender;
  mailer: Mailer | undefined;
  settings: DeliverySettings;
  random: RandomSource;
  clock: () => Date;
  /** Names this worker in leases and attempts. */
  workerId: string;
  /** Called after each attempt's outcome is committed (tests, benchmarks). */
  onAttempted?: (delivery: { id: string; status: string }) => void;
}

/** What an attempt produced, before it is recorded. */
interface AttemptReport {
  verdict: AttemptVerdict;
  startedAt: Date;
  latencyMs: number;
}

const MAX_ERROR_LENGTH = 2048;

/** What a claimed batch of deliveries needs: their subscriptions, and the events of each. */
interface ClaimedBatch {
  subscriptions: Map<string, SubscriptionRow>;
  events: Map<string, DomainEvent[]>;
}

export class DeliveryWorker implements BackgroundWorker {
  readonly name = 'delivery-worker';
  readonly #options: DeliveryWorkerOptions;
  readonly #logger: Logger;
  readonly #inFlight = new Set<Promise<void>>();
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #poked = false;

  constructor(options: DeliveryWorkerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'delivery-worker', worker: options.workerId });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** There may be work: look now. */
  poke(): void {
    this.#poked = true;
    this.#wake?.();
  }

  /** Stops claiming and waits for the attempts in flight (each bounded by its timeout). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    await Promise.allSettled([...this.#inFlight]);
  }

  async #run(): Promise<void> {
    const { settings } = this.#options;
    let failures = 0;
    while (this.#running) {
      this.#poked = false;
      let waitMs = settings.pollIntervalMs;
      try {
        const free = settings.concurrency - this.#inFlight.size;
        if (free > 0) {
          const claimed = await deliveryRepository.claimDue(this.#options.db, { limit: free, leaseMs: settings.leaseMs, leaseToken: randomUUID(), worker: this.#options.workerId });
          if (claimed.length > 0) {
            // One query each for the subscriptions and events of the whole batch.
            const loading = this.#load(claimed);
            for (const delivery of claimed) this.#track(this.#attempt(delivery, loading));
          }
          if (claimed.length === free) continue;
          const nextDue = await deliveryRepository.msUntilNextDue(this.#options.db);
          if (nextDue !== undefined) waitMs = Math.min(waitMs, Math.max(1, Math.ceil(nextDue)));
        }
        failures = 0;
      } catch (error) {
        failures += 1;
        // Capped at a few seconds so claiming resumes soon after the database is back (the LISTEN
        // connection's return also wakes the worker at once).
        waitMs = jitteredDelay(200, 5_000, failures - 1);
        if (this.#running) this.#logger.warn({ err: error, failures }, 'could not claim deliveries; will retry');
      }
      if (!this.#running) break;
      if (this.#poked && failures === 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => {
      this.#inFlight.delete(work);
      this.poke();
    });
  }

  async #load(claimed: DeliveryRow[]): Promise<ClaimedBatch> {
    const { db } = this.#options;
    const [subscriptions, events] = await Promise.all([
      subscriptionRepository.findMany(db, [...new Set(claimed.map((delivery) => delivery.subscription_id))]),
      deliveryRepository.eventsOfMany(
        db,
        claimed.filter((delivery) => delivery.mode !== 'notice').map((delivery) => delivery.id),
      ),
    ]);
    return { subscriptions: new Map(subscriptions.map((row) => [row.id, row])), events };
  }

  async #attempt(delivery: DeliveryRow, loading: Promise<ClaimedBatch>): Promise<void> {
    const leaseEndsAt = Date.now() + this.#options.settings.leaseMs;
    // A database outage mid-attempt is waited out while the lease lasts: the webhook is not called
    // twice for it, and the outcome is recorded once the database is back.
    const whileDatabaseAway = <T>(work: () => Promise<T>, what: string) =>
      retryWhileDatabaseUnavailable(work, { logger: this.#logger, what, shouldContinue: () => this.#running && Date.now() < leaseEndsAt });
    try {
      const loaded = await loading.catch((error: unknown) => {
        if (!isDatabaseUnavailable(error)) throw error;
        return whileDatabaseAway(() => this.#load([delivery]), `loading delivery ${delivery.id}`);
      });
      const subscription = loaded.subscriptions.get(delivery.subscription_id);
      if (subscription === undefined) return; // deleted meanwhile: its deliveries went with it
      const events = loaded.events.get(delivery.id) ?? [];
      const report = await this.#send(delivery, subscription, events);
      await whileDatabaseAway(() => this.#record(delivery, subscription, events, report), `recording the attempt of delivery ${delivery.id}`);
    } catch (error) {
      // The lease expires and another attempt follows; nothing is lost.
      this.#logger.error({ err: error, deliveryId: delivery.id }, 'delivery attempt could not be completed');
    }
  }

  async #send(delivery: DeliveryRow, subscription: SubscriptionRow, events: DomainEvent[]): Promise<AttemptReport> {
    const startedAt = this.#options.clock();
    const started = performance.now();
    const report = (verdict: AttemptVerdict, latencyMs = performance.now() - started): AttemptReport => ({ verdict, startedAt, latencyMs: Math.round(latencyMs * 10) / 10 });
    if (delivery.channel === 'email') {
      const { mailer } = this.#options;
      if (mailer === undefined) return report({ kind: 'retryable', error: 'email delivery is not configured (NOTIFIER_SMTP_URL)' });
      const content =
        delivery.mode === 'notice'
          ? delivery.notice === null
            ? undefined
            : { ...delivery.notice, messageId: `<${delivery.id}@${mailer.messageIdDomain}>` }
          : renderEmail({ deliveryId: delivery.id, events, messageIdDomain: mailer.messageIdDomain });
      if (content === undefined) return report({ kind: 'permanent', error: 'notice has no content' });
      const failure = await mailer.send(delivery.target, content);
      return report(judgeEmailAttempt(failure));
    }
    if (subscription.url === null) return report({ kind: 'permanent', error: 'subscription has no URL' });
    const url = new URL(subscription.url);
    const target = await vetWebhookTarget(url, this.#options.policy, this.#options.resolve);
    if (!target.allowed) return report({ kind: 'retryable', error: `refused: ${target.reason}` });
    const now = this.#options.clock();
    const body = webhookBody(events, now);
    const headers = webhookHeaders(signingSecrets(subscription, this.#options.secrets, now), delivery.id, now, body);
    const result = await this.#options.webhooks.send({ url, body, headers, addresses: target.addresses, timeoutMs: this.#options.settings.attemptTimeoutMs });
    return report(judgeWebhookAttempt(result, this.#options.clock()), result.latencyMs);
  }

  async #record(claimed: DeliveryRow, subscription: SubscriptionRow, events: DomainEvent[], report: AttemptReport): Promise<void> {
    const { db, settings, metrics } = this.#options;
    const { verdict } = report;
    const outcome = await db.transaction().execute(async (trx) => {
      const delivery = await deliveryRepository.findLeased(trx, claimed.id, claimed.lease_token ?? '');
      if (delivery === undefined) {
        this.#logger.warn({ deliveryId: claimed.id }, 'lease lost before the outcome was recorded; the attempt is not counted');
        return undefined;
      }
      const attemptsMade = delivery.schedule_attempts + 1;
      let step: NextStep = nextStep(verdict, settings.retry, attemptsMade, this.#options.random);
      // Failed meanwhile (the subscription was disabled): only a success changes that.
      if (delivery.status !== 'pending' && step.status === 'pending') step = { status: 'failed', why: delivery.failure_reason ?? 'disabled' };
      const error = 'error' in verdict ? verdict.error.slice(0, MAX_ERROR_LENGTH) : null;
      await deliveryRepository.recordAttempt(trx, {
        id: randomUUID(),
        delivery_id: delivery.id,
        number: delivery.attempts + 1,
        started_at: report.startedAt,
        latency_ms: report.latencyMs,
        status_code: verdict.statusCode ?? null,
        outcome: step.status === 'delivered' ? 'delivered' : step.status === 'pending' ? 'retry' : 'failed',
        error,
        worker: this.#options.workerId,
      });
      await deliveryRepository.recordOutcome(trx, delivery.id, {
        attempts: delivery.attempts + 1,
        scheduleAttempts: attemptsMade,
        status: step.status,
        retryInMs: step.status === 'pending' ? step.delayMs : undefined,
        lastError: error,
        lastStatusCode: verdict.statusCode ?? null,
        failureReason: step.status === 'failed' ? step.why : null,
      });
      const emitted: DomainEvent[] = [];
      let disabledDeliveries = 0;
      if (delivery.mode !== 'notice') {
        if (step.status === 'failed' && delivery.status === 'pending') emitted.push(...givenUpEvents(subscription, delivery.id, events, delivery.attempts + 1, error ?? 'failed'));
        if (subscription.kind === 'webhook') {
          const disabled = await this.#trackHealth(trx, subscription, verdict);
          emitted.push(...disabled.events);
          disabledDeliveries = disabled.givenUp;
        }
      }
      await this.#options.outbox.enqueue(trx, emitted);
      return { step, deliveryStatus: delivery.status, disabledDeliveries };
    });
    if (outcome === undefined) return;
    metrics.attempt(claimed.channel, verdict.kind === 'delivered', report.latencyMs / 1000);
    if (outcome.step.status === 'delivered') {
      const oldest = events[0]?.occurredAt;
      metrics.delivered(claimed.channel, claimed.mode, oldest === undefined ? 0 : (Date.now() - Date.parse(oldest)) / 1000);
    } else if (outcome.step.status === 'failed' && outcome.deliveryStatus === 'pending') metrics.deadLetter(claimed.channel, outcome.step.why);
    for (let index = 0; index < outcome.disabledDeliveries; index += 1) metrics.deadLetter(claimed.channel, 'disabled');
    // What an operator needs to see a failing endpoint: never the secret, the headers or the body.
    const logFields = {
      deliveryId: claimed.id,
      subscriptionId: subscription.id,
      channel: claimed.channel,
      eventTypes: [...new Set(events.map((event) => event.type))],
      status: outcome.step.status,
      ...(verdict.statusCode === undefined ? {} : { statusCode: verdict.statusCode }),
      ...('error' in verdict ? { error: verdict.error } : {}),
    };
    if (outcome.step.status === 'failed') this.#logger.warn(logFields, 'delivery given up');
    else if (outcome.step.status === 'pending') this.#logger.warn({ ...logFields, nextAttemptInMs: outcome.step.delayMs }, 'delivery attempt failed; will retry');
    else this.#logger.debug(logFields, 'delivery attempted');
    this.#options.onAttempted?.({ id: claimed.id, status: outcome.step.status });
  }

  /** Success resets the failure run; a 410 or a long enough run disables the webhook and tells its owner. */
  async #trackHealth(trx: Transaction<NotifierTables>, subscription: SubscriptionRow, verdict: AttemptVerdict): Promise<{ events: DomainEvent[]; givenUp: number }> {
    const nothing = { events: [], givenUp: 0 };
    if (verdict.kind === 'delivered') {
      if (subscription.consecutive_failures > 0 || subscription.failing_since !== null) await subscriptionRepository.clearFailures(trx, subscription.id);
      return nothing;
    }
    const health = await subscriptionRepository.countFailure(trx, subscription.id);
    if (health === undefined) return nothing;
    let reason: string | undefined;
    if (verdict.kind === 'gone') reason = 'the endpoint answered 410 Gone';
    else if (isSustainedFailure({ consecutiveFailures: health.consecutive_failures, failingSince: health.failing_since }, this.#options.settings.autoDisable, this.#options.clock())) {
      reason = `every attempt since ${health.failing_since?.toISOString() ?? '?'} failed (${health.consecutive_failures} in a row; last: ${'error' in verdict ? verdict.error : 'failed'})`;
    }
    if (reason === undefined) return nothing;
    const givenUp = await subscriptionRepository.disable(trx, subscription.id, reason);
    // Deliveries that were being retried end here too: announce them like any other given up.
    const events: DomainEvent[] = [];
    for (const delivery of givenUp.filter((row) => row.attempts > 0)) {
      events.push(...givenUpEvents(subscription, delivery.id, await deliveryRepository.eventsOf(trx, delivery.id), delivery.attempts, `subscription disabled: ${reason}`.slice(0, 2048)));
    }
    this.#logger.warn({ subscriptionId: subscription.id, endpoint: safeEndpoint(subscription.url ?? ''), reason, pendingGivenUp: givenUp.length }, 'webhook subscription disabled');
    const { mailer } = this.#options;
    if (subscription.owner_email !== null && mailer !== undefined) {
      const id = randomUUID();
      const notice = renderDisabledNotice({ deliveryId: id, subscriptionId: subscription.id, name: subscription.name, url: subscription.url ?? '', reason, messageIdDomain: mailer.messageIdDomain });
      await deliveryRepository.createNotice(trx, { id, subscriptionId: subscription.id, recipient: subscription.owner_email, content: { subject: notice.subject, text: notice.text, html: notice.html } });
      await deliveryRepository.announce(trx);
    }
    return { events, givenUp: givenUp.length };
  }
}

/**
 * What giving a delivery up announces: `notification.exhausted` per event it carried, and
 * `hook.failed` too when the subscription is a hook — each with the delivered event's subject and
 * correlation id. The notifier's own delivery events announce nothing more, so a failing endpoint
 * subscribed to them cannot start a loop.
 */
export function givenUpEvents(subscription: SubscriptionRow, deliveryId: string, events: readonly DomainEvent[], attempts: number, lastError: string): DomainEvent[] {
  const emitted: DomainEvent[] = [];
  const label = subscription.name ?? subscription.id;
  for (const event of events) {
    if (DELIVERY_EVENT_TYPES.has(event.type)) continue;
    const data = { subscriptionId: subscription.id, deliveryId, eventId: event.id, eventType: event.type, attempts };
    emitted.push(
      createDomainEvent('notification.exhausted', {
        subject: event.subject,
        data,
        correlationId: event.correlationId,
        reason: `delivery to subscription ${label} given up: ${lastError}`.slice(0, 2048),
      }),
    );
    if (subscription.hook) {
      emitted.push(
        createDomainEvent('hook.failed', {
          subject: event.subject,
          data: { ...data, lastError },
          correlationId: event.correlationId,
          reason: `hook ${label} (${safeEndpoint(subscription.url ?? '')}) failed for good`.slice(0, 2048),
        }),
      );
    }
  }
  return emitted;
}
