/**
 * Pure functions from query rows to Vega-Lite specs. Every figure embeds its rows as inline `data.values`,
 * uses the same colour per optimizer, and picks a log y scale when all plotted values are positive (symlog
 * otherwise, so negative objectives still plot).
 *
 * @module
 */
import type { TopLevelSpec } from "vega-lite";

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
const CONFIG = {
  background: "white",
  font: "sans-serif",
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: "#eee" },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: "start" as const },
};

/** The colour scale for a set of optimizer names: `learned` first, then known baselines, then the rest. */
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

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** `log` when every finite value is > 0, else `symlog`; `linear` when there is no value. */
export function yScaleType(values: unknown[]): "log" | "symlog" | "linear" {
  const xs = values.filter(finite);
  if (xs.length === 0) return "linear";
  return xs.every((x) => x > 0) ? "log" : "symlog";
}

/** A power of ten at or below the smallest positive value: where bars on a log scale start. */
export function logBase(values: unknown[]): number {
  const xs = values.filter((x): x is number => finite(x) && x > 0);
  return xs.length === 0 ? 1 : 10 ** Math.floor(Math.log10(Math.min(...xs)));
}

function distinct(rows: Row[], field: string): string[] {
  return [...new Set(rows.map((r) => String(r[field])))];
}

/** Meta-training curve: each unroll's meta-loss as a point (by family) and the per-step mean as a line. */
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

/** Grouped bars: `y` per optimizer, one panel per `panelField` value. */
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

/** Horizontal bars of benchmark medians (log x) with min–max whiskers, grouped by bench group. */
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
