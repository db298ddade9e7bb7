import { randomUUID } from 'node:crypto';
import { createDomainEvent } from '@defib/contracts';
import { describe, expect, it } from 'vitest';
import { webhookBody } from '@defib/contracts';
import { describeEvent, renderDisabledNotice, renderEmail, safeEndpoint } from './notification-content.ts';

const subject = { deployableId: randomUUID(), deployable: 'wordpress', assemblyId: randomUUID(), assembly: 'db' };
const failed = createDomainEvent('assembly.failed', { subject, data: { instanceId: 'i-1', cloudStatus: 'SHUTOFF' }, correlationId: 'inc-1', occurredAt: '2026-11-26T10:00:01.000Z', reason: 'VM <b>off</b>' });
const started = createDomainEvent('recovery.started', { subject, data: { incidentId: randomUUID(), step: 'reboot' }, correlationId: 'inc-1', occurredAt: '2026-11-26T10:00:02.000Z' });

describe('webhook body', () => {
  it('carries one event as {type, timestamp, data}', () => {
    const body = JSON.parse(webhookBody([failed], new Date())) as Record<string, unknown>;
    expect(body).toEqual({
      type: 'assembly.failed',
      timestamp: failed.occurredAt,
      data: { id: failed.id, version: 1, correlationId: 'inc-1', reason: 'VM <b>off</b>', subject, payload: failed.data },
    });
  });

  it('carries grouped events as a batch', () => {
    const now = new Date('2026-11-26T10:00:05Z');
    const body = JSON.parse(webhookBody([failed, started], now)) as { type: string; timestamp: string; data: { count: number; events: { id: string; type: string }[] } };
    expect(body.type).toBe('batch');
    expect(body.timestamp).toBe(now.toISOString());
    expect(body.data.count).toBe(2);
    expect(body.data.events.map((event) => event.type)).toEqual(['assembly.failed', 'recovery.started']);
  });
});

describe('email', () => {
  it('says what happened, to what, and what Defib does about it', () => {
    const mail = renderEmail({ deliveryId: 'd-1', events: [failed], messageIdDomain: 'example.com' });
    expect(mail.subject).toBe('[Defib] wordpress: assembly.failed — assembly db of wordpress');
    expect(mail.text).toContain('The cloud reports the VM of assembly db of wordpress as SHUTOFF (instance i-1).');
    expect(mail.text).toContain('What Defib does: Defib opens an incident and recovers it.');
    expect(mail.messageId).toBe('<d-1@example.com>');
  });

  it('lists a digest oldest first and escapes HTML', () => {
    const mail = renderEmail({ deliveryId: 'd-2', events: [started, failed], messageIdDomain: 'example.com' });
    expect(mail.subject).toBe('[Defib] wordpress: 2 events (1× assembly.failed, 1× recovery.started)');
    expect(mail.text.indexOf('assembly.failed')).toBeLessThan(mail.text.indexOf('recovery.started'));
    expect(mail.html).toContain('VM &lt;b&gt;off&lt;/b&gt;');
    expect(mail.html).not.toContain('<b>off</b>');
  });

  it('describes address changes, giving up and hook failures in words', () => {
    const changed = createDomainEvent('assembly.address-changed', {
      subject,
      data: { instanceId: 'i-1', previous: [{ address: '10.0.0.5', type: 'fixed', version: 4 }], current: [{ address: '10.0.0.9', type: 'fixed', version: 4 }] },
      correlationId: 'c',
    });
    expect(describeEvent(changed)).toEqual({
      about: 'assembly db of wordpress',
      headline: 'The addresses of assembly db of wordpress changed from 10.0.0.5 to 10.0.0.9.',
      action: 'Resources referencing them are reconfigured and hooks are called.',
    });
    const gaveUp = createDomainEvent('recovery.gave-up', { subject, data: { incidentId: randomUUID(), stepsTried: ['reboot', 'recreate'] }, correlationId: 'c' });
    expect(describeEvent(gaveUp)).toMatchObject({ headline: 'Defib gave up recovering assembly db of wordpress after trying reboot, recreate.', action: 'A person is needed.' });
    const hookFailed = createDomainEvent('hook.failed', {
      subject,
      data: { subscriptionId: randomUUID(), deliveryId: randomUUID(), eventId: randomUUID(), eventType: 'assembly.address-changed', attempts: 12, lastError: 'HTTP 500' },
      correlationId: 'c',
    });
    expect(describeEvent(hookFailed).headline).toBe('A hook could not deliver assembly.address-changed about assembly db of wordpress after 12 attempts: HTTP 500.');
    const cloud = createDomainEvent('cloud.registered', { subject: { cloud: 'sim' }, data: { provider: 'openstack', region: 'RegionOne', endpoint: 'http://x', created: true }, correlationId: 'c' });
    expect(describeEvent(cloud)).toEqual({ about: 'cloud sim', headline: 'Cloud sim was registered (openstack, RegionOne).' });
  });

  it('describes fencing, a disputed state and reconfiguration in words', () => {
    const fenced = createDomainEvent('assembly.fenced', { subject, data: { instanceId: 'i-1', action: 'terminate', confirmedBy: 'cloud-gone', cloudStatus: 'gone' }, correlationId: 'c' });
    expect(describeEvent(fenced)).toEqual({
      about: 'assembly db of wordpress',
      headline: 'The old VM of assembly db of wordpress was terminated (instance i-1), confirmed by the cloud (it no longer knows the VM).',
      action: 'Defib creates its replacement; two copies never run.',
    });
    const disputed = createDomainEvent('assembly.state-disputed', { subject, data: { instanceId: 'i-1', cloudStatus: 'SHUTOFF', lastHeartbeatAt: '2026-11-26T10:00:00.000Z' }, correlationId: 'c' });
    expect(describeEvent(disputed).headline).toBe('Heartbeats from assembly db of wordpress still arrive, but the cloud reports its VM as SHUTOFF (instance i-1).');
    const web = { ...subject, assemblyId: randomUUID(), assembly: 'web', resourceId: randomUUID(), resource: 'httpd' };
    const reconfigured = createDomainEvent('resource.reconfigured', { subject: web, data: { parameters: [{ name: 'DB_HOST', ref: 'db', field: 'address', value: '10.0.0.9' }] }, correlationId: 'c' });
    expect(describeEvent(reconfigured).headline).toBe('resource httpd on web of wordpress was reconfigured: DB_HOST=10.0.0.9 (address of db).');
  });

  it('describes a degraded and a recovered monitor replica, naming the cloud when it concerns one', () => {
    const degraded = createDomainEvent('monitor.degraded', { subject: { monitor: 'm-1' }, data: { cause: 'lagging', lagMs: 850 }, correlationId: 'c' });
    expect(describeEvent(degraded)).toEqual({
      about: 'monitor m-1',
      headline: 'monitor m-1 cannot watch reliably: it lags behind the heartbeats (850 ms behind).',
      action: 'It raises no failure it cannot vouch for until it recovers.',
    });
    const recovered = createDomainEvent('monitor.recovered', { subject: { monitor: 'm-1', cloud: 'sim' }, data: { cause: 'cloud-unreachable', degradedForMs: 12_300 }, correlationId: 'c' });
    expect(describeEvent(recovered).headline).toBe("monitor m-1 (cloud sim) watches reliably again after 12.3 s (the cloud's API is unreachable).");
  });

  it('describes maintenance of a deployable and of an assembly', () => {
    const deployable = { deployableId: subject.deployableId, deployable: 'wordpress' };
    const entered = createDomainEvent('deployable.maintenance-entered', { subject: deployable, data: { until: '2026-11-26T12:00:00.000Z' }, correlationId: 'c' });
    expect(describeEvent(entered)).toEqual({
      about: 'deployable wordpress',
      headline: 'deployable wordpress is in maintenance until 2026-11-26T12:00:00.000Z.',
      action: 'Defib still reports its failures but does not recover them.',
    });
    const left = createDomainEvent('assembly.maintenance-left', { subject, data: { ended: 'expired' }, correlationId: 'c' });
    expect(describeEvent(left)).toMatchObject({ headline: 'assembly db of wordpress left maintenance (its time was up).', action: 'Defib recovers its failures again.' });
  });

  it('asks for a person when an incident closed because recovery errored', () => {
    const errored = createDomainEvent('incident.resolved', { subject, data: { incidentId: randomUUID(), outcome: 'errored' }, correlationId: 'c' });
    expect(describeEvent(errored)).toMatchObject({ headline: 'The incident on assembly db of wordpress was closed: errored.', action: 'Recovery could not go on; a person is needed.' });
  });

  it('tells an owner about a disabled subscription without the URL path, which may hold a token', () => {
    const notice = renderDisabledNotice({ deliveryId: 'd-3', subscriptionId: 's-1', name: 'dns', url: 'https://hooks.example.com/T0/B0/secret-token', reason: 'the endpoint answered 410 Gone', messageIdDomain: 'example.com' });
    expect(notice.subject).toBe('[Defib] Webhook subscription dns was disabled');
    expect(notice.text).toContain('Endpoint: https://hooks.example.com');
    expect(notice.text).not.toContain('secret-token');
    expect(safeEndpoint('not a url')).toBe('(invalid URL)');
  });
});
