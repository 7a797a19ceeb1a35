/**
 * Bar figures: grouped bars per optimizer and the learning-rate sensitivity of the baselines.
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";
import { CONFIG, distinct, finite, logBase, optimizerScale, type Row } from "./vega.ts";

/**
 * Grouped bars: `y` per optimizer, one panel per `panelField` value.
 *
 * @example
 * ```ts
 * const spec = barsSpec({ title: "Final loss", rows, panelField: "family", y: "final_loss", yTitle: "loss",
 *   logScale: true });
 * ```
 */
export function barsSpec(opts: {
  title: string;
  rows: Row[];
  panelField: string;
  y: string;
  yTitle: string;
  logScale?: boolean;
}): TopLevelSpec {
  const values = opts.rows.filter((r) => finite(r[opts.y]) && (!opts.logScale || (r[opts.y] as number) > 0));
  const color = optimizerScale(distinct(values, "optimizer"));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title,
    config: CONFIG,
    data: { values },
    facet: { column: { field: opts.panelField, type: "nominal", title: null } },
    spec: {
      width: { step: 34 },
      height: 200,
      mark: { type: "bar" },
      encoding: {
        x: {
          field: "optimizer",
          type: "nominal",
          sort: color.domain,
          title: null,
          axis: { labelAngle: -30 },
        },
        y: {
          field: opts.y,
          type: "quantitative",
          title: opts.yTitle,
          ...(opts.logScale ? { scale: { type: "log" } } : {}),
        },
        ...(opts.logScale ? { y2: { datum: logBase(values.map((r) => r[opts.y])) } } : {}),
        color: { field: "optimizer", type: "nominal", title: "optimizer", scale: color },
      },
    },
  } as TopLevelSpec;
}

/**
 * Learning-rate sensitivity: each baseline's final loss over its learning-rate grid (log-log), one panel per
 * `panelField` value (default `model`), with the learned optimizer (which has no learning rate) as a
 * horizontal rule. Rows carry `kind` = `baseline` (with `learning_rate`) or `learned`, and the loss in `y`
 * (default `final_train_loss`).
 *
 * @example
 * ```ts
 * lrSensitivitySpec(rows, "Held-out problems", { panelField: "task_id", y: "final_loss", yTitle: "final loss" });
 * ```
 */
export function lrSensitivitySpec(
  rows: Row[],
  title: string,
  opts: { panelField?: string; y?: string; yTitle?: string } = {},
): TopLevelSpec {
  const yField = opts.y ?? "final_train_loss";
  const values = rows.filter((r) => finite(r[yField]) && (r[yField] as number) > 0);
  const color = optimizerScale(distinct(values, "optimizer"));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    config: CONFIG,
    data: { values },
    ...(opts.panelField
      ? { facet: { field: opts.panelField, type: "nominal", title: null }, columns: 3 }
      : { facet: { column: { field: "model", type: "nominal", title: null } } }),
    spec: {
      width: opts.panelField ? 230 : 280,
      height: 200,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'baseline'" }],
          mark: { type: "line", point: true },
          encoding: {
            x: {
              field: "learning_rate",
              type: "quantitative",
              scale: { type: "log" },
              title: "learning rate (log)",
            },
            y: {
              field: yField,
              type: "quantitative",
              scale: { type: "log" },
              title: `${opts.yTitle ?? "final training loss"} (log)`,
            },
            color: { field: "optimizer", type: "nominal", title: "optimizer", scale: color },
          },
        },
        {
          transform: [{ filter: "datum.kind === 'learned'" }],
          mark: { type: "rule", strokeWidth: 2, strokeDash: [6, 3] },
          encoding: {
            y: { field: yField, type: "quantitative" },
            color: { field: "optimizer", type: "nominal", scale: color },
          },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  } as TopLevelSpec;
}
