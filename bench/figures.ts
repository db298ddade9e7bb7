/** How the benches compute and print their figures. */

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

/** p50, p99 and max of `values` (NaN for none). */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** A number with `digits` decimals, `n/a` when it is not finite. */
export const fixed = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
export const ms = (p: Percentiles): string => `p50 ${fixed(p.p50)} ms, p99 ${fixed(p.p99)} ms, max ${fixed(p.max)} ms`;
export const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
