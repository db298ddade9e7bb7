import { describe, expect, it } from 'vitest';
import { describeOutcome, describeSteps, faultLabel, formatMs, formatOffset, formatRatio } from './report-format.ts';

describe('the reports’ wording', () => {
  it('gives durations in milliseconds below a second, seconds with two decimals below a minute, minutes and seconds above', () => {
    expect([850, 999.6, 3_210, 59_994, 92_400].map(formatMs)).toEqual(['850 ms', '1000 ms', '3.21 s', '59.99 s', '1 min 32 s']);
    expect(formatMs(null)).toBe('—');
  });

  it('gives moments as seconds from when every deployable ran, ratios with a ×', () => {
    expect(formatOffset(1_012_345, 1_000_000)).toBe('12.3 s');
    expect(formatOffset(null, 1_000_000)).toBe('—');
    expect(formatRatio(1.034)).toBe('1.03×');
  });

  it('strings the ladder steps together with their outcome', () => {
    expect(describeSteps([{ kind: 'restart-resource', state: 'failed' }, { kind: 'reboot', state: 'succeeded' }])).toBe('restart-resource ✘ → reboot ✔');
    expect(describeSteps([{ kind: 'recreate', state: 'skipped' }, { kind: 'reboot', state: 'verifying' }])).toBe('recreate (skipped) → reboot …');
    expect(describeSteps([])).toBe('—');
  });

  it('names a fault by its name, adding kind and target only when the name does not say them', () => {
    expect(faultLabel({ name: 'vm-crash shop/db', kind: 'vm-crash', target: 'shop/db' })).toBe('vm-crash shop/db');
    expect(faultLabel({ name: 'db dies', kind: 'vm-crash', target: 'shop/db' })).toBe('db dies (vm-crash shop/db)');
  });

  it('marks an outcome against the expectation', () => {
    expect(describeOutcome({ outcome: 'recovered', expected: 'recovered' })).toBe('recovered ✔');
    expect(describeOutcome({ outcome: 'unrecovered', expected: 'recovered' })).toBe('unrecovered ✘ (expected recovered)');
  });
});
