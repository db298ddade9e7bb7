import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderMarkdownReport } from './report-markdown.ts';
import { renderSvgTimeline } from './report-svg.ts';
import { summaryLines, writeReportFiles } from './report-files.ts';
import { reportFixture } from './testing/report-fixture.ts';

describe('the report files', () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'defib-report-files-'));
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('are written into the directory, created when missing: the JSON report, the Markdown and the SVG', async () => {
    const report = reportFixture();
    const dir = join(base, 'reports', 'today');
    const files = await writeReportFiles(report, dir);
    expect(files).toEqual({ json: join(dir, 'drill-report.json'), markdown: join(dir, 'drill-report.md'), svg: join(dir, 'drill-report.svg') });
    expect(JSON.parse(await readFile(files.json, 'utf8'))).toEqual(report);
    expect(await readFile(files.json, 'utf8')).toContain('\n  "scenario": "default",\n');
    expect(await readFile(files.markdown, 'utf8')).toBe(renderMarkdownReport(report));
    expect(await readFile(files.svg, 'utf8')).toBe(renderSvgTimeline(report));
  });

  it('replace an earlier drill’s', async () => {
    await writeReportFiles({ ...reportFixture(), scenario: 'earlier' }, base);
    const files = await writeReportFiles(reportFixture(), base);
    expect(JSON.parse(await readFile(files.json, 'utf8'))).toMatchObject({ scenario: 'default' });
  });
});

describe('the printed summary', () => {
  it('has a line per fault, the figures, each check, the verdict and where the report is', () => {
    const lines = summaryLines(reportFixture(), { json: '/r/drill-report.json', markdown: '/r/drill-report.md', svg: '/r/drill-report.svg' });
    expect(lines[0]).toBe('drill default: 8 faults, 7 detected, 6 recovered, 1 gave up, 0 duplicate instances (wall time 45.70 s)');
    expect(lines.slice(1, 9).every((line) => line.startsWith('  ✔ #'))).toBe(true);
    expect(lines[2]).toMatch(/^ {2}✔ #2 resource-flap shop\/app\/php-fpm +recovered ✔: detected 600 ms, recovered 5\.81 s · restart-resource ✔ → restart-resource ✘ → reboot ✔$/);
    expect(lines[8]).toMatch(/^ {2}✔ #8 nginx stays down \(resource-no-restart blog\/web\/nginx\) +gave-up ✔: detected 400 ms · /);
    expect(lines[9]).toBe('MTTD p50/p99 800 ms / 3.08 s (1.02× / 1.03× of the timeout) · MTTR p50/p99 3.32 s / 9.52 s (1.01× / 1.02× of timeout + step time)');
    expect(lines.slice(10, 16)).toEqual(reportFixture().checks.map((check) => `✔ ${check.name}: ${check.detail}`));
    expect(lines.slice(16)).toEqual(['PASSED', 'report: /r/drill-report.md (with /r/drill-report.svg and /r/drill-report.json)']);
  });

  it('says FAILED and marks what broke', () => {
    const report = reportFixture();
    const [first] = report.faults;
    if (first === undefined) throw new Error('the fixture has faults');
    report.faults[0] = { ...first, outcome: 'unrecovered', recoveredAt: null, recoveryMs: null };
    report.checks[0] = { name: 'every fault ended as expected', held: false, detail: '#1 unrecovered' };
    report.passed = false;
    const lines = summaryLines(report);
    expect(lines[1]).toMatch(/^ {2}✘ #1 resource-crash shop\/db\/mysqld +unrecovered ✘ \(expected recovered\): detected 450 ms · restart-resource ✔$/);
    expect(lines).toContain('✘ every fault ended as expected: #1 unrecovered');
    expect(lines.at(-1)).toBe('FAILED');
  });
});
