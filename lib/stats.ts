/**
 * The two small numeric helpers every layer uses: the median of a list and a log-spaced grid.
 *
 * @example
 * ```ts
 * import { logGrid, median } from "./stats.ts";
 * median([3, 1, 2]); // 2
 * logGrid(1e-4, 1e-1, 4); // [0.0001, 0.001, 0.01, 0.1]
 * ```
 *
 * @module
 */

/**
 * Median of `xs` (the mean of the two middle values for an even count); NaN for an empty list. NaN and
 * infinite values sort like any number (NaN last), so filter first where they must not count.
 *
 * @example
 * ```ts
 * median([4, 1, 3, 2]); // 2.5
 * median([1, 2, 3].filter(Number.isFinite)); // 2
 * ```
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b));
  const m = s.length >> 1;
  if (s.length % 2 === 1) return s[m];
  const a = s[m - 1], b = s[m];
  return a === b ? a : a / 2 + b / 2; // equal halves also cover ∞, ∞ (no ∞ − ∞ style NaN)
}

/**
 * `points` values spaced evenly in log space from `min` to `max` (both included; a single point is `min`),
 * each rounded to `digits` significant digits (default 6) so they print and compare cleanly.
 *
 * @example
 * ```ts
 * logGrid(1e-3, 1, 4); // [0.001, 0.01, 0.1, 1]
 * logGrid(1e-3, 2e-3, 3, 3); // [0.001, 0.00141, 0.002]
 * ```
 */
export function logGrid(min: number, max: number, points: number, digits = 6): number[] {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max)) {
    throw new Error(`logGrid: the range ends must be finite numbers > 0, got ${min} and ${max}.`);
  }
  if (max < min) throw new Error(`logGrid: the upper end (${max}) must be ≥ the lower end (${min}).`);
  if (!Number.isInteger(points) || points < 1) {
    throw new Error(`logGrid: the number of points must be an integer ≥ 1, got ${points}.`);
  }
  if (points === 1) return [min];
  const lo = Math.log(min), hi = Math.log(max);
  return Array.from({ length: points }, (_, i) => {
    const v = i === points - 1 ? max : Math.exp(lo + ((hi - lo) * i) / (points - 1));
    return Number(v.toPrecision(digits));
  });
}
