import { describe, expect, it } from 'vitest';
import { createDomainEvent } from './events.ts';
import { eventsOfWebhookBody, webhookBody } from './webhook-body.ts';

const subject = { deployableId: '7d0c8e52-5d55-4f4a-9c1e-0f7a8b6b2c11', deployable: 'shop' };
const opened = createDomainEvent('deployable.state-changed', { subject, correlationId: subject.deployableId, reason: 'shop is recovering', data: { from: 'running', to: 'recovering' } });
const back = createDomainEvent('deployable.state-changed', { subject, correlationId: subject.deployableId, data: { from: 'recovering', to: 'running' } });

describe('the webhook body', () => {
  it('carries one event whole, as a receiver reads it back', () => {
    const body = webhookBody([opened], new Date());
    expect(JSON.parse(body)).toMatchObject({ type: 'deployable.state-changed', timestamp: opened.occurredAt, data: { id: opened.id, payload: opened.data, reason: 'shop is recovering' } });
    expect(eventsOfWebhookBody(body)).toEqual([opened]);
  });

  it('carries a batch of grouped events, each whole', () => {
    const body = webhookBody([opened, back], new Date('2026-12-02T07:00:00Z'));
    expect(JSON.parse(body)).toMatchObject({ type: 'batch', timestamp: '2026-12-02T07:00:00.000Z', data: { count: 2 } });
    expect(eventsOfWebhookBody(body)).toEqual([opened, back]);
  });
});
