import { describe, expect, it } from 'vitest';
import { renderMarkdownReport } from './report-markdown.ts';
import { reportFixture } from './testing/report-fixture.ts';

/** The rows of the Markdown table under `heading`, as cells. */
function tableUnder(markdown: string, heading: string): string[][] {
  const section = markdown.split(`## ${heading}\n`)[1]?.split('\n## ')[0] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) => line.slice(2, -2).split(/(?<!\\) \| /));
}

describe('the Markdown report', () => {
  it('opens with the scenario and its verdict', () => {
    expect(renderMarkdownReport(reportFixture()).split('\n')[0]).toBe('# Drill default: passed ✔');
    expect(renderMarkdownReport({ ...reportFixture(), passed: false }).split('\n')[0]).toBe('# Drill default: FAILED ✘');
  });

  it('sums the drill up in a table of figures with human-readable durations', () => {
    const rows = new Map(tableUnder(renderMarkdownReport(reportFixture()), 'Summary').map(([figure, value]) => [figure, value]));
    expect(rows.get('faults')).toBe('8');
    expect(rows.get('gave up')).toBe('1');
    expect(rows.get('duplicate instances')).toBe('0');
    expect(rows.get('MTTD p50 / p99')).toBe('800 ms / 3.08 s');
    expect(rows.get('MTTR p50 / p99')).toBe('3.32 s / 9.52 s');
    expect(rows.get('detection ÷ timeout p50 / p99 (VM faults)')).toBe('1.02× / 1.03×');
    expect(rows.get('notifications')).toBe('42 events · 45 deliveries · 3 duplicates · 0 bad signatures · 3 unacknowledged');
  });

  it('lists every check with ✔ or ✘ and its detail', () => {
    const report = reportFixture();
    report.checks[1] = { name: 'never two live instances of one assembly', held: false, detail: 'shop/db: 2 live instances for 1.2 s' };
    const markdown = renderMarkdownReport(report);
    expect(markdown).toContain('- ✔ **every fault ended as expected**: 6 recovered, 1 gave up, 1 withstood');
    expect(markdown).toContain('- ✘ **never two live instances of one assembly**: shop/db: 2 live instances for 1.2 s');
  });

  it('has a row per fault: injected at, detected and recovered after, outcome against expectation, ladder steps, notifications, hook calls', () => {
    const rows = tableUnder(renderMarkdownReport(reportFixture()), 'Faults');
    expect(rows).toHaveLength(8);
    expect(rows[1]).toEqual(['2', 'resource-flap shop/app/php-fpm', 'resource-flap', 'shop/app/php-fpm', '4.0 s', '600 ms (resource.failed)', '5.81 s', 'recovered ✔', 'restart-resource ✔ → restart-resource ✘ → reboot ✔', '9', '0']);
    expect(rows[6]?.at(-1)).toBe('1; reconfigured shop/app/php-fpm');
    expect(rows[7]?.slice(6, 8)).toEqual(['—', 'gave-up ✔']);
  });

  it('notes why steps were skipped or how they failed', () => {
    const markdown = renderMarkdownReport(reportFixture());
    expect(markdown).toContain('- #2 resource-flap shop/app/php-fpm, restart-resource ✘: failed again within its window');
    expect(markdown).toContain('- #8 nginx stays down, restart-resource ✘: still failed after the restart (3 times)\n- #8 nginx stays down, reboot ✘');
    expect(markdown).toContain('- #8 nginx stays down, recreate (skipped): maxRecoveries (1 within 15m) reached');
  });

  it('says when a fault did not end as expected', () => {
    const report = reportFixture();
    const vmCrash = report.faults[2];
    if (vmCrash === undefined) throw new Error('the fixture has a VM crash');
    report.faults[2] = { ...vmCrash, outcome: 'unrecovered', recoveredAt: null, recoveryMs: null };
    expect(tableUnder(renderMarkdownReport(report), 'Faults')[2]?.[7]).toBe('unrecovered ✘ (expected recovered)');
  });

  it('lists the disruptions and shows the timeline picture', () => {
    const markdown = renderMarkdownReport(reportFixture());
    expect(tableUnder(markdown, 'Disruptions')).toEqual([['kill', 'monitor#1', '17.0 s', '1.60 s']]);
    expect(markdown).toContain('![timeline](drill-report.svg)');
  });

  it('escapes names so that they cannot break a table or inject markup', () => {
    const report = reportFixture();
    const first = report.faults[0];
    if (first === undefined) throw new Error('the fixture has faults');
    report.faults[0] = { ...first, name: 'a | b <img src=x> *bold*\nnext' };
    const rows = tableUnder(renderMarkdownReport(report), 'Faults');
    expect(rows[0]?.[1]).toBe('a \\| b \\<img src=x\\> \\*bold\\* next');
    expect(rows[0]).toHaveLength(11);
  });
});
