import { randomUUID } from 'node:crypto';
import { createDomainEvent } from '@defib/contracts';
import { describe, expect, it } from 'vitest';
import { eventTypePatternProblem, groupKeyOf, matchesFilter, typeMatches } from './subscription-matching.ts';

const subject = { deployableId: randomUUID(), deployable: 'wordpress', assemblyId: randomUUID(), assembly: 'db' };
const failed = createDomainEvent('assembly.failed', { subject, data: { instanceId: 'i-1', cloudStatus: 'ERROR' }, correlationId: 'c' });
const cloudEvent = createDomainEvent('cloud.removed', { subject: { cloud: 'sim' }, data: { provider: 'ec2' }, correlationId: 'c' });

describe('subscription matching', () => {
  it('accepts catalogued types, prefixes with catalogued types and *', () => {
    expect(eventTypePatternProblem('assembly.failed')).toBeUndefined();
    expect(eventTypePatternProblem('assembly.*')).toBeUndefined();
    expect(eventTypePatternProblem('*')).toBeUndefined();
    expect(eventTypePatternProblem('assembly.exploded')).toContain('not a catalogued event type');
    expect(eventTypePatternProblem('bogus.*')).toContain('no catalogued event type starts with "bogus."');
    expect(eventTypePatternProblem('assembly*')).toBeDefined();
    expect(eventTypePatternProblem('*.failed')).toBeDefined();
  });

  it('matches exact types, prefixes and everything', () => {
    expect(typeMatches('assembly.failed', 'assembly.failed')).toBe(true);
    expect(typeMatches('assembly.*', 'assembly.failed')).toBe(true);
    expect(typeMatches('assembly.*', 'resource.failed')).toBe(false);
    expect(typeMatches('*', 'cloud.removed')).toBe(true);
  });

  it('narrows to deployables, leaving out events about clouds', () => {
    expect(matchesFilter({ eventTypes: ['*'], deployables: [] }, cloudEvent)).toBe(true);
    expect(matchesFilter({ eventTypes: ['*'], deployables: ['wordpress'] }, failed)).toBe(true);
    expect(matchesFilter({ eventTypes: ['*'], deployables: ['shop'] }, failed)).toBe(false);
    expect(matchesFilter({ eventTypes: ['*'], deployables: ['wordpress'] }, cloudEvent)).toBe(false);
    expect(matchesFilter({ eventTypes: ['resource.*'], deployables: [] }, failed)).toBe(false);
  });

  it('groups by deployable, by cloud, or by monitor replica', () => {
    expect(groupKeyOf(failed)).toBe('deployable:wordpress');
    expect(groupKeyOf(cloudEvent)).toBe('cloud:sim');
    const lagging = createDomainEvent('monitor.degraded', { subject: { monitor: 'm-1' }, data: { cause: 'lagging' }, correlationId: 'c' });
    const cutOff = createDomainEvent('monitor.degraded', { subject: { monitor: 'm-1', cloud: 'sim' }, data: { cause: 'cloud-unreachable' }, correlationId: 'c' });
    expect(groupKeyOf(lagging)).toBe('monitor:m-1');
    expect(groupKeyOf(cutOff)).toBe('cloud:sim');
  });
});
