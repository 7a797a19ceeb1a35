/**
 * Summary figures: the ablation variants against the full model, and the benchmark medians.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import { CONFIG, finite, logBase, type Row } from "./vega.ts";

/**
 * Ablations: each variant's median final-loss ratio vs the full model (log x), one point per meta-training
 * seed and a tick at the median over seeds, with a rule at 1 (right of it: the variant is worse, so the
 * feature it removes helps).
 *
 * @example
 * ```ts
 * ablationSpec([{ variant: "no-grad-products", seed: 0, median_ratio_vs_full: 1.3 }]);
 * ```
 */
export function ablationSpec(rows: Row[]): TopLevelSpec {
  const values = rows.filter((r) => finite(r.median_ratio_vs_full) && (r.median_ratio_vs_full as number) > 0);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Ablations: final loss vs the full model (median over held-out problems)",
    config: CONFIG,
    width: 480,
    height: { step: 20 },
    layer: [
      {
        data: { values },
        mark: { type: "point", filled: true, size: 50, opacity: 0.7 },
        encoding: {
          y: { field: "variant", type: "nominal", title: null, sort: null, axis: { labelLimit: 260 } },
          x: {
            field: "median_ratio_vs_full",
            type: "quantitative",
            scale: { type: "log" },
            title: "variant / full model, median final loss (log; > 1: the feature helps)",
          },
          color: { field: "seed", type: "nominal", title: "meta-training seed" },
        },
      },
      {
        data: { values },
        mark: { type: "tick", color: "black", thickness: 2 },
        encoding: {
          y: { field: "variant", type: "nominal", sort: null },
          x: { aggregate: "median", field: "median_ratio_vs_full", type: "quantitative" },
        },
      },
      {
        data: { values: [{ one: 1 }] },
        mark: { type: "rule", color: "black", strokeDash: [4, 3] },
        encoding: { x: { field: "one", type: "quantitative" } },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Horizontal bars of benchmark medians (log x) with min–max whiskers, grouped by bench group.
 *
 * @example
 * ```ts
 * const spec = benchSpec([{ name: "sort-10k", group_name: "lib", median_ms: 1.2, min_ms: 1, max_ms: 2 }]);
 * ```
 */
export function benchSpec(rows: Row[]): TopLevelSpec {
  const values = rows.filter((r) => finite(r.median_ms) && (r.median_ms as number) > 0);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Benchmarks (latest run of each)",
    config: CONFIG,
    data: { values },
    width: 480,
    height: { step: 16 },
    layer: [
      {
        mark: { type: "bar", height: 10 },
        encoding: {
          y: { field: "name", type: "nominal", title: null, sort: null, axis: { labelLimit: 320 } },
          x: { field: "median_ms", type: "quantitative", scale: { type: "log" }, title: "median ms (log)" },
          x2: { datum: logBase(values.flatMap((r) => [r.median_ms, r.min_ms])) },
          color: { field: "group_name", type: "nominal", title: "group" },
        },
      },
      {
        mark: { type: "rule", color: "black" },
        encoding: {
          y: { field: "name", type: "nominal", sort: null },
          x: { field: "min_ms", type: "quantitative" },
          x2: { field: "max_ms" },
        },
      },
    ],
  } as TopLevelSpec;
}
