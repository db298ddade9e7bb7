/**
 * What a notification says: the text and HTML of an email that tells a person what happened, to
 * what, and what Defib did or does about it (a webhook's JSON body is the contracts' `webhookBody`).
 */
import type { DomainEvent, MonitorDegradationCause } from '@defib/contracts';
import { groupKeyOf } from './subscription-matching.ts';

/** What an event means to a person: what happened and what Defib does about it. */
export interface EventDescription {
  /** `web of wordpress`, `cloud sim-openstack` */
  about: string;
  headline: string;
  /** What Defib did or is doing about it, when there is something to say. */
  action?: string;
}

function aboutOf(event: DomainEvent): string {
  const subject = event.subject as { cloud?: string; monitor?: string; deployable?: string; assembly?: string; resource?: string };
  if (subject.monitor !== undefined) return `monitor ${subject.monitor}${subject.cloud === undefined ? '' : ` (cloud ${subject.cloud})`}`;
  if (subject.cloud !== undefined) return `cloud ${subject.cloud}`;
  if (subject.resource !== undefined) return `resource ${subject.resource} on ${subject.assembly ?? '?'} of ${subject.deployable ?? '?'}`;
  if (subject.assembly !== undefined) return `assembly ${subject.assembly} of ${subject.deployable ?? '?'}`;
  return `deployable ${subject.deployable ?? '?'}`;
}

function addressList(addresses: readonly { address: string }[]): string {
  return addresses.length === 0 ? 'none' : addresses.map((address) => address.address).join(', ');
}

function monitorCauseText(cause: MonitorDegradationCause): string {
  switch (cause) {
    case 'lagging':
      return 'it lags behind the heartbeats';
    case 'broker-unreachable':
      return 'the message broker is unreachable';
    case 'database-unreachable':
      return 'its database is unreachable';
    case 'cloud-unreachable':
      return "the cloud's API is unreachable";
  }
}

/** Describes any catalogued event; the switch is exhaustive, so a new event type must say something. */
export function describeEvent(event: DomainEvent): EventDescription {
  const about = aboutOf(event);
  switch (event.type) {
    case 'cloud.registered':
      return { about, headline: `Cloud ${event.subject.cloud} was ${event.data.created ? 'registered' : 're-registered'} (${event.data.provider}, ${event.data.region}).` };
    case 'cloud.removed':
      return { about, headline: `Cloud ${event.subject.cloud} was removed.` };
    case 'deployable.applied':
      return { about, headline: event.data.changed ? `Manifest version ${event.data.version} was applied to ${about}.` : `The manifest of ${about} was applied again, unchanged.` };
    case 'deployable.deleted':
      return { about, headline: `${about} was deleted (last version ${event.data.version}).` };
    case 'deployable.start-requested':
      return { about, headline: `Start of ${about} (version ${event.data.version}) was requested.`, action: 'Defib launches its assemblies in dependency order.' };
    case 'deployable.stop-requested':
      return { about, headline: `Stop of ${about} was requested.`, action: 'Defib stops its VMs and cancels open incidents.' };
    case 'deployable.state-changed':
      return { about, headline: `${about} went from ${event.data.from} to ${event.data.to}.` };
    case 'assembly.launched':
      return { about, headline: `The VM of ${about} was created (instance ${event.data.instanceId}, addresses ${addressList(event.data.addresses)}).` };
    case 'assembly.stopped':
      return { about, headline: `The VM of ${about} was stopped${event.data.instanceId === undefined ? '' : ` (instance ${event.data.instanceId})`}.` };
    case 'assembly.recovered':
      return { about, headline: `${about} is alive again (instance ${event.data.instanceId}).`, action: event.data.step === undefined ? 'It came back before any recovery step was needed.' : `Recovered by: ${event.data.step}.` };
    case 'incident.opened':
      return { about, headline: `An incident was opened for ${about} (${event.data.level}, triggered by ${event.data.trigger}).`, action: 'Defib recovers it by escalating step by step.' };
    case 'incident.resolved':
      return {
        about,
        headline: `The incident on ${about} was closed: ${event.data.outcome}.`,
        ...(event.data.outcome === 'errored' ? { action: 'Recovery could not go on; a person is needed.' } : {}),
      };
    case 'recovery.started':
      return { about, headline: `Recovery of ${about} started.`, action: `Step: ${event.data.step}${event.data.attempt === undefined ? '' : ` (attempt ${event.data.attempt})`}.` };
    case 'recovery.step-succeeded':
      return { about, headline: `Recovery step ${event.data.step} on ${about} succeeded and was verified.` };
    case 'recovery.step-failed':
      return { about, headline: `Recovery step ${event.data.step} on ${about} failed (attempt ${event.data.attempt}): ${event.data.error}`, action: 'Defib retries or escalates per policy.' };
    case 'recovery.escalated':
      return { about, headline: `Recovery of ${about} escalated from ${event.data.from} to ${event.data.to}.` };
    case 'recovery.gave-up':
      return { about, headline: `Defib gave up recovering ${about} after trying ${event.data.stepsTried.join(', ') || 'nothing'}.`, action: 'A person is needed.' };
    case 'assembly.running':
      return { about, headline: `${about} is running (instance ${event.data.instanceId}, addresses ${addressList(event.data.addresses)}).` };
    case 'assembly.unresponsive':
      return { about, headline: `${about} stopped answering: no heartbeat for ${Math.round(event.data.silentForMs / 100) / 10} s (${event.data.missed} missed).`, action: 'Defib opens an incident and recovers it.' };
    case 'assembly.failed':
      return { about, headline: `The cloud reports the VM of ${about} as ${event.data.cloudStatus} (instance ${event.data.instanceId}).`, action: 'Defib opens an incident and recovers it.' };
    case 'assembly.address-changed':
      return { about, headline: `The addresses of ${about} changed from ${addressList(event.data.previous)} to ${addressList(event.data.current)}.`, action: 'Resources referencing them are reconfigured and hooks are called.' };
    case 'resource.failed':
      return { about, headline: `${about} is ${event.data.state}${event.data.detail === undefined ? '' : `: ${event.data.detail}`}.`, action: 'Defib restarts it, escalating if that does not help.' };
    case 'resource.restarted':
      return { about, headline: `${about} was restarted.` };
    case 'resource.running':
      return { about, headline: `${about} is running.` };
    case 'assembly.fenced':
      return {
        about,
        headline: `The old VM of ${about} was ${event.data.action === 'stop' ? 'stopped' : 'terminated'} (instance ${event.data.instanceId}), confirmed by the cloud (${event.data.confirmedBy === 'cloud-gone' ? 'it no longer knows the VM' : `status ${event.data.cloudStatus}`}).`,
        action: 'Defib creates its replacement; two copies never run.',
      };
    case 'assembly.state-disputed':
      return {
        about,
        headline: `Heartbeats from ${about} still arrive, but the cloud reports its VM as ${event.data.cloudStatus} (instance ${event.data.instanceId}).`,
        action: 'Defib does not declare it failed while heartbeats arrive; another VM may be running its agent — a person should look.',
      };
    case 'monitor.degraded':
      return {
        about,
        headline: `${about} cannot watch reliably: ${monitorCauseText(event.data.cause)}${event.data.lagMs === undefined ? '' : ` (${Math.round(event.data.lagMs)} ms behind)`}${event.data.detail === undefined ? '' : `: ${event.data.detail}`}.`,
        action: 'It raises no failure it cannot vouch for until it recovers.',
      };
    case 'monitor.recovered':
      return { about, headline: `${about} watches reliably again after ${Math.round(event.data.degradedForMs / 100) / 10} s (${monitorCauseText(event.data.cause)}).` };
    case 'resource.reconfigured':
      return {
        about,
        headline: `${about} was reconfigured: ${event.data.parameters.map((parameter) => `${parameter.name}=${parameter.value} (${parameter.field} of ${parameter.ref})`).join(', ')}.`,
      };
    case 'deployable.maintenance-entered':
    case 'assembly.maintenance-entered':
      return {
        about,
        headline: `${about} is in maintenance${event.data.until === undefined ? '' : ` until ${event.data.until}`}.`,
        action: 'Defib still reports its failures but does not recover them.',
      };
    case 'deployable.maintenance-left':
    case 'assembly.maintenance-left':
      return {
        about,
        headline: `${about} left maintenance (${event.data.ended === 'expired' ? 'its time was up' : 'on request'}).`,
        action: 'Defib recovers its failures again.',
      };
    case 'hook.failed':
      return { about, headline: `A hook could not deliver ${event.data.eventType} about ${about} after ${event.data.attempts} attempts: ${event.data.lastError}.` };
    case 'notification.exhausted':
      return { about, headline: `A notification of ${event.data.eventType} about ${about} was given up after ${event.data.attempts} attempts.` };
  }
}

/** An email, ready for the transport. */
export interface EmailContent {
  subject: string;
  text: string;
  html: string;
  /** `<delivery-id@defib>`: derived from the delivery, so a resent message is recognisably the same. */
  messageId: string;
}

/** `<id@domain>` for a delivery. */
export function messageIdFor(deliveryId: string, domain: string): string {
  return `<${deliveryId}@${domain}>`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function groupTitle(events: readonly DomainEvent[]): string {
  const [first] = events;
  if (first === undefined) return 'Defib';
  const key = groupKeyOf(first);
  return key.startsWith('deployable:') ? key.slice('deployable:'.length) : key.replace(':', ' ');
}

/**
 * One email for one or more events about the same deployable (a digest when several): a subject
 * that says it all when there is one event and counts the types when there are more, then each
 * event in time order with what Defib does about it.
 */
export function renderEmail(input: { deliveryId: string; events: readonly DomainEvent[]; messageIdDomain: string }): EmailContent {
  const events = [...input.events].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
  const described = events.map((event) => ({ event, description: describeEvent(event) }));
  const title = groupTitle(events);
  const [only] = described;
  let subject: string;
  if (described.length === 1 && only !== undefined) subject = `[Defib] ${title}: ${only.event.type} — ${only.description.about}`;
  else {
    const counts = new Map<string, number>();
    for (const { event } of described) counts.set(event.type, (counts.get(event.type) ?? 0) + 1);
    const summary = [...counts].map(([type, count]) => `${count}× ${type}`).join(', ');
    subject = `[Defib] ${title}: ${described.length} events (${summary})`;
  }
  const intro = described.length === 1 ? 'Defib reports:' : `Defib reports ${described.length} events about ${title}, oldest first:`;
  const textLines = [intro, ''];
  for (const { event, description } of described) {
    textLines.push(`* ${event.occurredAt}  ${event.type}`);
    textLines.push(`  ${description.headline}`);
    if (event.reason !== undefined) textLines.push(`  Reason: ${event.reason}`);
    if (description.action !== undefined) textLines.push(`  What Defib does: ${description.action}`);
    textLines.push(`  Event ${event.id}, correlation ${event.correlationId}`);
    textLines.push('');
  }
  textLines.push(`-- Defib notifier, delivery ${input.deliveryId}`);
  const rows = described
    .map(
      ({ event, description }) =>
        `<tr><td style="white-space:nowrap;vertical-align:top;padding:4px 8px">${escapeHtml(event.occurredAt)}</td>` +
        `<td style="vertical-align:top;padding:4px 8px"><strong>${escapeHtml(event.type)}</strong><br>${escapeHtml(description.headline)}` +
        (event.reason === undefined ? '' : `<br><em>Reason:</em> ${escapeHtml(event.reason)}`) +
        (description.action === undefined ? '' : `<br><em>What Defib does:</em> ${escapeHtml(description.action)}`) +
        `<br><small>Event ${escapeHtml(event.id)}, correlation ${escapeHtml(event.correlationId)}</small></td></tr>`,
    )
    .join('\n');
  const html = `<!doctype html><html><body style="font-family:sans-serif"><p>${escapeHtml(intro)}</p><table>${rows}</table><p><small>Defib notifier, delivery ${escapeHtml(input.deliveryId)}</small></p></body></html>`;
  return { subject, text: textLines.join('\n'), html, messageId: messageIdFor(input.deliveryId, input.messageIdDomain) };
}

/** The email telling a subscription's owner that Defib disabled it. */
export function renderDisabledNotice(input: { deliveryId: string; subscriptionId: string; name: string | null; url: string; reason: string; messageIdDomain: string }): EmailContent {
  const label = input.name ?? input.subscriptionId;
  const endpoint = safeEndpoint(input.url);
  const text = [
    `Defib disabled the webhook subscription ${label} (${input.subscriptionId}).`,
    '',
    `Endpoint: ${endpoint}`,
    `Why: ${input.reason}`,
    '',
    'Deliveries still pending were marked failed. Fix the endpoint, enable the subscription again',
    `(PATCH /v1/subscriptions/${input.subscriptionId} {"enabled": true}) and replay what it missed with`,
    `POST /v1/subscriptions/${input.subscriptionId}/redeliver-failed?since=<time>.`,
    '',
    `-- Defib notifier, delivery ${input.deliveryId}`,
  ].join('\n');
  const html = `<!doctype html><html><body style="font-family:sans-serif">${text
    .split('\n')
    .map((line) => (line === '' ? '<br>' : `<p style="margin:0">${escapeHtml(line)}</p>`))
    .join('')}</body></html>`;
  return { subject: `[Defib] Webhook subscription ${label} was disabled`, text, html, messageId: messageIdFor(input.deliveryId, input.messageIdDomain) };
}

/** A webhook URL without its path and query, which may hold a token. */
export function safeEndpoint(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
