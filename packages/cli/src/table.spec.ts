import { describe, expect, it } from 'vitest';
import { cell, renderFields, renderTable, timeOf } from './table.ts';

describe('tables', () => {
  it('pads every column to its widest cell, with capital headers and no trailing spaces', () => {
    expect(renderTable(['name', 'state'], [['wordpress', 'running'], ['db', '-']])).toBe(['NAME       STATE', 'wordpress  running', 'db         -'].join('\n'));
  });

  it('shows only the headers of an empty table', () => {
    expect(renderTable(['id', 'level'], [])).toBe('ID  LEVEL');
  });

  it('aligns the values of labelled fields', () => {
    expect(renderFields([['name', 'wordpress'], ['observed', 'running']])).toBe('name:     wordpress\nobserved: running');
  });

  it('writes times in UTC to the second, and a dash for nothing', () => {
    expect(timeOf('2026-12-02T05:01:02.345+01:00')).toBe('2026-12-02 04:01:02Z');
    expect(timeOf(null)).toBe('-');
    expect(cell('')).toBe('-');
    expect(cell(0)).toBe('0');
  });
});
