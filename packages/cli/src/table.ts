/** Plain-text tables and the small formats they are made of, for people at a terminal. */

/** Columns padded to their widest cell, two spaces apart, headers in capitals; no trailing spaces. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers.map((header) => header.toUpperCase()), ...rows];
  const widths = headers.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all.map((row) => widths.map((width, column) => (row[column] ?? '').padEnd(width)).join('  ').trimEnd()).join('\n');
}

/** `label: value` lines with the values aligned. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}`.trimEnd()).join('\n');
}

/** A time as `2026-12-02 05:01:02Z` (UTC, to the second); `-` for none. */
export function timeOf(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '-';
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : `${time.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** A value for a cell: `-` for nothing. */
export function cell(value: string | number | boolean | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}
