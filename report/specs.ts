/**
 * Pure functions from query rows to Vega-Lite specs, one module per kind of figure: shared scales and colours
 * (`specs/vega.ts`), curves (`specs/curves.ts`), ratios (`specs/ratios.ts`), bars (`specs/bars.ts`) and the
 * ablation and benchmark summaries (`specs/summaries.ts`).
 *
 * @module
 */
export { logBase, optimizerScale, type Row, yScaleType } from "./specs/vega.ts";
export { curvesPanelsSpec, FLOOR_DECADES, logFloor, metaTrainSpec } from "./specs/curves.ts";
export { clippedRatios, RATIO_CAP, ratioSpec } from "./specs/ratios.ts";
export { barsSpec, lrSensitivitySpec } from "./specs/bars.ts";
export { ablationSpec, benchSpec } from "./specs/summaries.ts";
