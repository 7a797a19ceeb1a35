/**
 * Line figures: the meta-training curve and loss curves side by side, with a floored log loss axis.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import { CONFIG, distinct, finite, optimizerScale, type Row, yScaleType } from "./vega.ts";

/**
 * Meta-training curve: each unroll's meta-loss as a point (by family) and the per-step mean as a line.
 *
 * @example
 * ```ts
 * const spec = metaTrainSpec([{ meta_step: 0, meta_loss: -0.5, family: "quadratic" }]);
 * ```
 */
export function metaTrainSpec(rows: Row[]): TopLevelSpec {
  const values = rows.filter((r) => finite(r.meta_loss));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Meta-training curve",
    width: 560,
    height: 260,
    config: CONFIG,
    data: { values },
    layer: [
      {
        mark: { type: "point", filled: true, size: 30, opacity: 0.6 },
        encoding: {
          x: { field: "meta_step", type: "quantitative", title: "meta-step" },
          y: { field: "meta_loss", type: "quantitative", title: "meta-loss (mean log relative loss)" },
          color: { field: "family", type: "nominal", title: "problem family" },
        },
      },
      {
        mark: { type: "line", color: "black", strokeWidth: 2 },
        encoding: {
          x: { field: "meta_step", type: "quantitative" },
          y: { aggregate: "mean", field: "meta_loss", type: "quantitative" },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Decades below a panel's largest loss where a log loss axis stops ({@link logFloor}). */
export const FLOOR_DECADES = 6;

/**
 * Where a log loss axis should stop: the smallest positive value, but no lower than `decades` decades below
 * the largest (a loss that falls to 1e-28 would otherwise squash every other curve into the top of the panel).
 * Returns the floor and whether any value lies below it (drawn at the floor).
 *
 * @example
 * ```ts
 * logFloor([100, 1, 1e-28]); // { floor: 1e-4, clipped: true }
 * ```
 */
export function logFloor(values: unknown[], decades = FLOOR_DECADES): { floor: number; clipped: boolean } {
  const xs = values.filter((x): x is number => finite(x) && x > 0);
  if (xs.length === 0) return { floor: 1, clipped: false };
  const min = Math.min(...xs), max = Math.max(...xs);
  const floor = Math.max(min, max / 10 ** decades);
  return { floor, clipped: min < floor };
}

/**
 * Loss curves of several problems side by side (one panel per `panelField` value, each with its own y scale
 * type), coloured by optimizer. A log y axis is floored by {@link logFloor} (lower values are drawn at the
 * floor); `xLog` draws x on a log scale (points with x ≤ 0 left out); `rules` are dashed vertical lines (e.g.
 * meta-training horizons) coloured by their `optimizer`.
 *
 * @example
 * ```ts
 * curvesPanelsSpec({ title: "t", rows, panelField: "task_id", x: "step", xTitle: "step", y: "loss", yTitle: "loss" });
 * ```
 */
export function curvesPanelsSpec(opts: {
  title: string;
  rows: Row[];
  panelField: string;
  x: string;
  xTitle: string;
  y: string;
  yTitle: string;
  columns?: number;
  width?: number;
  height?: number;
  xLog?: boolean;
  rules?: { x: number; optimizer: string }[];
}): TopLevelSpec {
  const panels = distinct(opts.rows, opts.panelField);
  const color = optimizerScale(distinct(opts.rows, "optimizer"));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title,
    config: CONFIG,
    columns: opts.columns ?? 3,
    concat: panels.map((panel) => {
      const values = opts.rows.filter((r) =>
        String(r[opts.panelField]) === panel && finite(r[opts.y]) && (!opts.xLog || (r[opts.x] as number) > 0)
      );
      const type = yScaleType(values.map((r) => r[opts.y]));
      const { floor, clipped } = logFloor(values.map((r) => r[opts.y]));
      const x = {
        field: opts.x,
        type: "quantitative" as const,
        title: `${opts.xTitle}${opts.xLog ? " (log)" : ""}`,
        ...(opts.xLog ? { scale: { type: "log" as const } } : {}),
      };
      const line = {
        mark: { type: "line", strokeWidth: 1.8, clip: true },
        encoding: {
          x,
          y: {
            field: opts.y,
            type: "quantitative",
            title: `${opts.yTitle}${type === "linear" ? "" : ` (${type}${clipped ? ", floored" : ""})`}`,
            scale: type === "log" ? { type, domainMin: floor, clamp: true } : { type, zero: false },
          },
          color: { field: "optimizer", type: "nominal", title: "optimizer", scale: color },
        },
      };
      const body = {
        title: { text: panel, fontSize: 12 },
        width: opts.width ?? 230,
        height: opts.height ?? 170,
        data: { values: type === "log" ? values.filter((r) => (r[opts.y] as number) > 0) : values },
      };
      if (!opts.rules?.length) return { ...body, ...line };
      return {
        ...body,
        layer: [
          line,
          {
            data: { values: opts.rules },
            mark: { type: "rule", strokeDash: [4, 3], strokeWidth: 1.2 },
            encoding: {
              x: { field: "x", type: "quantitative" },
              color: { field: "optimizer", type: "nominal", scale: color },
            },
          },
        ],
      };
    }),
    resolve: { scale: { y: "independent", x: "independent" } },
  } as TopLevelSpec;
}
