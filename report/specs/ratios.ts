/**
 * The loss-ratio figure: learned over best tuned baseline per problem, clipped at a cap.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import { CONFIG, finite, type Row } from "./vega.ts";

/** Ratios beyond [1/RATIO_CAP, RATIO_CAP] are drawn at the cap ({@link ratioSpec}). */
export const RATIO_CAP = 1000;

/**
 * The problems whose `ratio` lies outside [1/cap, cap] (drawn at the cap by {@link ratioSpec}).
 *
 * @example
 * ```ts
 * clippedRatios([{ task_id: "a", ratio: 1e28 }, { task_id: "b", ratio: 2 }]); // [{ task_id: "a", ratio: 1e28 }]
 * ```
 */
export function clippedRatios(rows: Row[], cap = RATIO_CAP): Row[] {
  return rows.filter((r) =>
    finite(r.ratio) && (r.ratio as number) > 0 && ((r.ratio as number) > cap || (r.ratio as number) < 1 / cap)
  );
}

/**
 * Horizontal bars of `ratio` (log scale) per problem from 1, with a rule at 1 (left of it: the learned
 * optimizer wins). The axis spans [1/cap, cap]: a ratio beyond it is drawn at the cap, hatched lighter, and
 * labelled with its value.
 *
 * @example
 * ```ts
 * ratioSpec([{ task_id: "a", family: "f", ratio: 0.5 }], "Learned / best baseline");
 * ```
 */
export function ratioSpec(rows: Row[], title: string, cap = RATIO_CAP): TopLevelSpec {
  const values = rows.filter((r) => finite(r.ratio) && (r.ratio as number) > 0).map((r) => {
    const x = r.ratio as number;
    const shown = Math.min(cap, Math.max(1 / cap, x));
    return { ...r, shown, clipped: shown !== x, label: shown !== x ? `${x.toExponential(1)} (clipped)` : "" };
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    config: CONFIG,
    width: 520,
    height: { step: 18 },
    layer: [
      {
        data: { values },
        mark: { type: "bar", height: 12 },
        encoding: {
          y: {
            field: "task_id",
            type: "nominal",
            sort: { field: "ratio" },
            title: "problem",
            axis: { labelLimit: 260 },
          },
          x: {
            field: "shown",
            type: "quantitative",
            scale: { type: "log", domain: [1 / cap, cap] },
            title:
              `learned / best tuned baseline, median final loss (log, clipped to [1/${cap}, ${cap}]; < 1: learned wins)`,
          },
          x2: { datum: 1 },
          color: { field: "family", type: "nominal", title: "family" },
          opacity: { condition: { test: "datum.clipped", value: 0.45 }, value: 1 },
        },
      },
      {
        data: { values: values.filter((v) => v.clipped) },
        mark: { type: "text", align: "left", dx: 4, fontSize: 10 },
        encoding: {
          y: { field: "task_id", type: "nominal", sort: { field: "ratio" } },
          x: { datum: 1 },
          text: { field: "label" },
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
