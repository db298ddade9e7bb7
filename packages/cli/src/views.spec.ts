import { describe, expect, it } from 'vitest';
import { eventLine, incidentView, statusView, type DeployableStatus } from './views.ts';

const status: DeployableStatus = {
  deployable: { id: 'd-1', name: 'wordpress', version: 3, desired: 'running', observed: 'degraded', reason: 'db is unresponsive', changedAt: '2026-12-02T10:00:00.000Z', maintenance: null },
  assemblies: [
    {
      id: 'a-db',
      name: 'db',
      observed: 'unresponsive',
      instanceId: 'srv-1',
      addresses: [{ address: '10.0.0.5', type: 'fixed', version: 4 }],
      reason: 'no heartbeat for 3s',
      maintenance: null,
      resources: [{ id: 'r-mysqld', name: 'mysqld', observed: 'running' }],
    },
    {
      id: 'a-web',
      name: 'web',
      observed: 'running',
      instanceId: 'srv-2',
      addresses: [],
      reason: null,
      maintenance: { since: '2026-12-02T09:00:00.000Z', reason: 'upgrade' },
      resources: [],
    },
  ],
  openIncidents: [{ id: 'i-1', level: 'assembly', trigger: 'assembly.unresponsive', step: 'reboot', assemblyId: 'a-db', resourceId: null, openedAt: '2026-12-02T10:00:01.000Z' }],
  notice: null,
};

describe('the status view', () => {
  it('shows the deployable, a row per assembly with instance, addresses, liveness, resources and maintenance, then the open incidents', () => {
    expect(statusView(status)).toBe(
      [
        'deployable:  wordpress (version 3)',
        'desired:     running',
        'observed:    degraded (db is unresponsive)',
        'since:       2026-12-02 10:00:00Z',
        'maintenance: -',
        '',
        'ASSEMBLY  INSTANCE  ADDRESSES  STATE                               RESOURCES       MAINTENANCE',
        'db        srv-1     10.0.0.5   unresponsive (no heartbeat for 3s)  mysqld:running  -',
        'web       srv-2     -          running                             -               since 2026-12-02 09:00:00Z until ended (upgrade)',
        '',
        'open incidents:',
        'INCIDENT  LEVEL     TARGET  TRIGGER                STEP    OPENED',
        'i-1       assembly  db      assembly.unresponsive  reboot  2026-12-02 10:00:01Z',
      ].join('\n'),
    );
  });

  it('says plainly when nothing is open and when nothing acted on a start', () => {
    const text = statusView({ ...status, openIncidents: [], notice: 'nothing has acted on it yet' });
    expect(text).toContain('open incidents: none');
    expect(text.endsWith('notice: nothing has acted on it yet')).toBe(true);
  });
});

describe('the event line', () => {
  it('reads time, type, subject and reason', () => {
    expect(
      eventLine({ id: 'e-1', type: 'resource.failed', occurredAt: '2026-12-02T10:00:00.250Z', reason: 'exited with status 1', subject: { deployable: 'wordpress', assembly: 'db', resource: 'mysqld' } }),
    ).toBe('2026-12-02 10:00:00Z  resource.failed  wordpress/db/mysqld  exited with status 1');
    expect(eventLine({ id: 'e-2', type: 'cloud.registered', occurredAt: '2026-12-02T10:00:00Z', subject: { cloud: 'sim-ec2' } })).toBe('2026-12-02 10:00:00Z  cloud.registered  cloud sim-ec2');
  });
});

describe('the incident view', () => {
  it('shows what failed and the step timeline in order', () => {
    const text = incidentView({
      id: 'i-1',
      deployable: 'wordpress',
      assembly: 'db',
      resource: null,
      level: 'assembly',
      status: 'closed',
      outcome: 'recovered',
      trigger: 'assembly.unresponsive',
      observations: 2,
      lastError: null,
      openedAt: '2026-12-02T10:00:00Z',
      closedAt: '2026-12-02T10:00:09Z',
      steps: [
        { kind: 'reboot', attempt: 1, action: 'reboot srv-1', state: 'failed', reason: null, error: 'no heartbeat after reboot', intendedAt: '2026-12-02T10:00:00Z', actedAt: '2026-12-02T10:00:00Z', finishedAt: '2026-12-02T10:00:04Z' },
        { kind: 'recreate', attempt: 1, action: 'recreate srv-1', state: 'succeeded', reason: 'reboot failed', error: null, intendedAt: '2026-12-02T10:00:04Z', actedAt: '2026-12-02T10:00:05Z', finishedAt: '2026-12-02T10:00:09Z' },
      ],
    });
    expect(text).toContain('target:   wordpress/db (assembly)');
    expect(text).toContain('status:   closed, recovered');
    const rows = text.split('\n').filter((line) => /^(reboot|recreate) /.test(line));
    expect(rows).toEqual([
      'reboot    1        reboot srv-1    failed     2026-12-02 10:00:00Z  2026-12-02 10:00:00Z  2026-12-02 10:00:04Z  no heartbeat after reboot',
      'recreate  1        recreate srv-1  succeeded  2026-12-02 10:00:04Z  2026-12-02 10:00:05Z  2026-12-02 10:00:09Z  reboot failed',
    ]);
  });
});
