/**
 * What every figure spec shares: the row type, one colour per optimizer, the common chart config and the
 * scale helpers. Every figure embeds its rows as inline `data.values` and picks a log y scale when all plotted
 * values are positive (symlog otherwise, so negative objectives still plot).
 *
 * @module
 */

/** A row as an object keyed by column name. */
export type Row = Record<string, unknown>;

/** Fixed colours so an optimizer looks the same in every figure. */
const OPTIMIZER_COLORS: Record<string, string> = {
  learned: "#d62728",
  adam: "#1f77b4",
  rmsprop: "#2ca02c",
  momentum: "#ff7f0e",
  sgd: "#9467bd",
  hrnn: "#d62728",
  "l2l-lstm": "#8c564b",
  crnn: "#e377c2",
};
const EXTRA_COLORS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** Common config: white background, readable fonts, no chart border. */
export const CONFIG = {
  background: "white",
  font: "sans-serif",
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: "#eee" },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: "start" as const },
};

/**
 * The colour scale for a set of optimizer names: `learned` first, then known baselines, then the rest.
 *
 * @example
 * ```ts
 * optimizerScale(["zeta", "adam", "learned"]).domain; // ["learned", "adam", "zeta"]
 * ```
 */
export function optimizerScale(names: Iterable<string>): { domain: string[]; range: string[] } {
  const set = new Set(names);
  const known = Object.keys(OPTIMIZER_COLORS).filter((n) => set.has(n));
  const extra = [...set].filter((n) => !(n in OPTIMIZER_COLORS)).sort();
  return {
    domain: [...known, ...extra],
    range: [
      ...known.map((n) => OPTIMIZER_COLORS[n]),
      ...extra.map((_, i) => EXTRA_COLORS[i % EXTRA_COLORS.length]),
    ],
  };
}

/**
 * Whether `v` is a finite number (not NaN, an infinity, null or a non-number); a type guard.
 *
 * @example
 * ```ts
 * finite(1.5); // true
 * finite(NaN); // false
 * ```
 */
export function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * `log` when every finite value is > 0, else `symlog`; `linear` when there is no value.
 *
 * @example
 * ```ts
 * yScaleType([0.5, -1, null]); // "symlog"
 * ```
 */
export function yScaleType(values: unknown[]): "log" | "symlog" | "linear" {
  const xs = values.filter(finite);
  if (xs.length === 0) return "linear";
  return xs.every((x) => x > 0) ? "log" : "symlog";
}

/**
 * A power of ten at or below the smallest positive value: where bars on a log scale start.
 *
 * @example
 * ```ts
 * logBase([0.034, 2, -1]); // 0.01
 * ```
 */
export function logBase(values: unknown[]): number {
  const xs = values.filter((x): x is number => finite(x) && x > 0);
  return xs.length === 0 ? 1 : 10 ** Math.floor(Math.log10(Math.min(...xs)));
}

/**
 * The distinct values of `field` in `rows`, as strings, in order of first appearance.
 *
 * @example
 * ```ts
 * const rows: Row[] = [{ optimizer: "adam" }, { optimizer: "sgd" }, { optimizer: "adam" }];
 * distinct(rows, "optimizer"); // ["adam", "sgd"]
 * ```
 */
export function distinct(rows: Row[], field: string): string[] {
  return [...new Set(rows.map((r) => String(r[field])))];
}
