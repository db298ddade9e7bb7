import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgress, type ProgressFault } from './progress.ts';

const vmCrash: ProgressFault = { index: 2, name: 'vm-crash shop/db', kind: 'vm-crash', target: 'shop/db' };
const throttle: ProgressFault = { index: 5, name: 'cloud slows down', kind: 'api-throttle', target: 'cloud sim-openstack' };
const nginx: ProgressFault = { index: 7, name: 'resource-no-restart blog/web/nginx', kind: 'resource-no-restart', target: 'blog/web/nginx' };

/** A progress writing into an array, on a clock the spec moves. */
function recorded(terminal: boolean, columns?: number) {
  const writes: string[] = [];
  let clock = 1_000_000;
  const progress = createProgress({ write: (text) => writes.push(text), terminal, totalFaults: 10, now: () => clock, redrawEveryMs: terminal ? 250 : 0, ...(columns === undefined ? {} : { columns }) });
  return { progress, writes, advance: (ms: number) => (clock += ms) };
}

/** Every progress call once, in a drill's order; returns how many calls it made. */
function drive({ progress, advance }: ReturnType<typeof recorded>): number {
  progress.phase('starting processes');
  advance(8_200);
  progress.phase('deployables running in 8.2 s');
  progress.injected(vmCrash);
  progress.injected(throttle);
  advance(3_100);
  progress.detected(vmCrash, 3_100, 'assembly.failed');
  progress.disruption('kill monitor#1');
  advance(2_300);
  progress.recovered(vmCrash, 5_400, [{ kind: 'reboot', state: 'failed' }, { kind: 'recreate', state: 'succeeded' }]);
  progress.withstood(throttle, 10_000);
  progress.injected(nginx);
  progress.gaveUp(nginx, 40_200);
  progress.done();
  return 11;
}

describe('drill progress', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes exactly one plain line per call when the output is not a terminal, without control codes', () => {
    const run = recorded(false);
    const calls = drive(run);
    expect(run.writes).toHaveLength(calls);
    for (const text of run.writes) expect(text).toMatch(/^\P{Cc}*\n$/u);
    expect(run.writes.map((text) => text.trimEnd())).toEqual([
      'starting processes',
      'deployables running in 8.2 s',
      'fault 3/10 vm-crash shop/db: injected',
      'fault 6/10 cloud slows down (api-throttle cloud sim-openstack): injected',
      'fault 3/10 vm-crash shop/db: detected in 3.10 s (assembly.failed)',
      'disruption: kill monitor#1',
      'fault 3/10 vm-crash shop/db: recovered in 5.40 s (reboot ✘ → recreate ✔)',
      'fault 6/10 cloud slows down (api-throttle cloud sim-openstack): withstood, ended after 10.00 s',
      'fault 8/10 resource-no-restart blog/web/nginx: injected',
      'fault 8/10 resource-no-restart blog/web/nginx: gave up after 40.20 s',
      'done: 1 recovered, 1 gave up, 1 withstood, 7 unfinished of 10 faults in 13.6 s',
    ]);
  });

  it('keeps a scenario’s control characters off the output', () => {
    const run = recorded(false);
    run.progress.injected({ ...vmCrash, name: 'evil\u001b[2J\rname' });
    expect(run.writes).toEqual(['fault 3/10 evil [2J name (vm-crash shop/db): injected\n']);
  });

  it('on a terminal, writes the same lines above a status line it redraws in place', () => {
    const run = recorded(true);
    run.progress.phase('starting processes');
    run.progress.injected(vmCrash);
    run.progress.injected(throttle);
    run.advance(3_100);
    run.progress.recovered(vmCrash, 3_100, []);
    const last = run.writes.at(-1) ?? '';
    expect(last.startsWith('\r\x1b[2Kfault 3/10 vm-crash shop/db: recovered in 3.10 s\n')).toBe(true);
    expect(last.split('\n')[1]).toBe('[##------------------] 1/10 recovered · 1 in flight · 3.1 s · starting processes');
  });

  it('keeps the status line’s clock going between events, and removes the line when done', () => {
    vi.useFakeTimers();
    const run = recorded(true);
    run.progress.injected(vmCrash);
    run.advance(1_000);
    vi.advanceTimersByTime(250);
    expect(run.writes.at(-1)).toBe('\r\x1b[2K[--------------------] 0/10 recovered · 1 in flight · 1.0 s');
    run.progress.done();
    const count = run.writes.length;
    expect(run.writes.at(-1)).toBe('\r\x1b[2Kdone: 0 recovered, 0 gave up, 0 withstood, 10 unfinished of 10 faults in 1.0 s\n');
    vi.advanceTimersByTime(1_000);
    expect(run.writes).toHaveLength(count);
  });

  it('cuts the status line to the terminal’s width so it never wraps', () => {
    const run = recorded(true, 40);
    run.progress.phase('a phase with a long description that goes on');
    const status = run.writes.at(-1)?.split('\n')[1] ?? '';
    expect(status).toHaveLength(39);
    expect(status.endsWith('…')).toBe(true);
  });
});
